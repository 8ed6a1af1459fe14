// The acceptance tree of one step, laid out by d3-hierarchy's tidy tree (Reingold–Tilford):
// the last committed token is the root, draft nodes hang off it, and the bonus or recovered token
// hangs off the end of the accepted path. Pure: no DOM.
import { stratify, tree } from 'd3-hierarchy';
import type { ViewStep } from '../src/protocol';

export type TreeKind = 'root' | 'accepted' | 'rejected' | 'bonus' | 'recovered';

/** One node of the layout's input: an id, its parent's id, and what the node draws. */
export interface TreeDatum {
  id: string;
  parentId: string | null;
  kind: TreeKind;
  text: string;
  /** Output position; -1 for the root. */
  position: number;
  draftProb: number | null;
  targetProb: number | null;
  /** Index into the step's nodes; -1 for the root and the bonus. */
  index: number;
  /** Depth below the root. */
  depth: number;
  exitLayer?: number;
}

export interface PlacedNode extends TreeDatum {
  /** Top-left corner of the node's box. */
  x: number;
  y: number;
}

export interface PlacedLink {
  kind: Exclude<TreeKind, 'root'>;
  from: { x: number; y: number };
  to: { x: number; y: number };
}

export interface TreeLayout {
  nodes: PlacedNode[];
  links: PlacedLink[];
  width: number;
  height: number;
}

/** Box size of a node and the gaps between columns and rows, in pixels. */
export const NODE_W = 100;
export const NODE_H = 34;
const COL = NODE_W + 36;
const ROW = NODE_H + 10;
const PAD = 6;

/** The layout's input for one step: root, draft nodes (accepted path first among siblings), then the bonus. */
export function treeData(step: ViewStep): TreeDatum[] {
  const root: TreeDatum = { id: 'r', parentId: null, kind: 'root', text: '', position: -1, draftProb: null, targetProb: null, index: -1, depth: 0 };
  const depth = new Map<string, number>([['r', 0]]);
  const nodes = step.nodes.map((n, i): TreeDatum => {
    const parentId = n.parent >= 0 && n.parent < i ? `n${n.parent}` : 'r';
    const d = (depth.get(parentId) ?? 0) + 1;
    depth.set(`n${i}`, d);
    return {
      id: `n${i}`, parentId, kind: n.status, text: n.text, position: n.position, draftProb: n.draftProb, targetProb: n.targetProb, index: i, depth: d,
      ...(n.exitLayer !== undefined ? { exitLayer: n.exitLayer } : {}),
    };
  });
  // The bonus continues the accepted path: it hangs off the path's last node.
  let tip = root;
  for (let next = nodes.find((n) => n.kind === 'accepted' && n.parentId === tip.id); next; next = nodes.find((n) => n.kind === 'accepted' && n.parentId === tip.id)) tip = next;
  const out = [root, ...nodes.sort((a, b) => rank(a) - rank(b) || a.index - b.index)];
  const b = step.bonus;
  if (b) {
    out.push({
      id: 'b', parentId: tip.id, kind: b.kind, text: b.text, position: b.position, draftProb: null, targetProb: b.prob, index: -1, depth: tip.depth + 1,
      ...(b.exitLayer !== undefined ? { exitLayer: b.exitLayer } : {}),
    });
  }
  return out;
}

const rank = (d: TreeDatum): number => (d.kind === 'accepted' ? 0 : 1);

/** Places the step's tree left to right: depth along x, siblings along y. */
export function layoutTree(step: ViewStep): TreeLayout {
  const root = stratify<TreeDatum>()
    .id((d) => d.id)
    .parentId((d) => d.parentId)(treeData(step));
  const placed = tree<TreeDatum>()
    .nodeSize([ROW, COL])
    .separation(() => 1)(root);
  const all = placed.descendants();
  // d3's x is the breadth axis; the tree grows to the right, so breadth becomes y.
  const minX = Math.min(...all.map((n) => n.x));
  const nodes: PlacedNode[] = all.map((n) => ({ ...n.data, x: PAD + n.y, y: PAD + n.x - minX }));
  const at = new Map(nodes.map((n) => [n.id, n]));
  const links: PlacedLink[] = placed.links().map((l) => {
    const from = at.get(l.source.data.id)!;
    const to = at.get(l.target.data.id)!;
    return { kind: to.kind as PlacedLink['kind'], from: { x: from.x + NODE_W, y: from.y + NODE_H / 2 }, to: { x: to.x, y: to.y + NODE_H / 2 } };
  });
  return {
    nodes,
    links,
    width: Math.max(...nodes.map((n) => n.x)) + NODE_W + PAD,
    height: Math.max(...nodes.map((n) => n.y)) + NODE_H + PAD,
  };
}
