// SVG markup for the visualiser: the acceptance tree, the exit-layer strip, Mask-Predict's
// re-masked positions, and the exported document that stacks them. Pure: strings in, strings out.
// The live view styles elements by class (media/visualiser.css, theme variables only); the export
// has no stylesheet to lean on, so it is painted with concrete colours read from the theme.
import type { StripToken, ViewStep, ViewTrace } from '../src/protocol';
import { cut, esc, num, percent, shortProb, visible } from './format';
import { layoutTree, NODE_H, NODE_W, type PlacedLink, type PlacedNode } from './layout';

/** Concrete colours for the export, resolved from the theme by the webview. */
export interface Palette {
  fg: string;
  muted: string;
  bg: string;
  box: string;
  border: string;
  accepted: string;
  rejected: string;
  bonus: string;
  recovered: string;
  masked: string;
  /** Six exit-layer colours, shallow to deep. */
  exit: readonly string[];
}

/** A drawn part: inner markup and its size. */
export interface Drawn {
  body: string;
  width: number;
  height: number;
}

export const SVG_NS = 'http://www.w3.org/2000/svg';
const MONO = 'ui-monospace, SFMono-Regular, Menlo, Consolas, monospace';
const SANS = 'system-ui, -apple-system, Segoe UI, sans-serif';
export const EXIT_COLOURS = 6;

type Role =
  | 'box-root' | 'box-accepted' | 'box-rejected' | 'box-bonus' | 'box-recovered'
  | 'link-accepted' | 'link-rejected' | 'link-bonus' | 'link-recovered'
  | 'tok' | 'prob' | 'label' | 'title' | 'cell' | 'mark' | 'masked' | 'unmasked' | 'bar-accepted' | 'bar-bonus' | 'bar-recovered';

/** Presentation attributes for the export; nothing for the live view, whose CSS does the same by class. */
function paint(role: Role, p: Palette | undefined, colour?: string): string {
  if (!p) return '';
  const stroke = (c: string, w: number, extra = '') => ` fill="${p.box}" stroke="${c}" stroke-width="${w}"${extra}`;
  const line = (c: string, w: number, extra = '') => ` fill="none" stroke="${c}" stroke-width="${w}"${extra}`;
  switch (role) {
    case 'box-root': return stroke(p.border, 1);
    case 'box-accepted': return stroke(p.accepted, 2);
    case 'box-rejected': return stroke(p.rejected, 1, ' stroke-dasharray="4 3" opacity="0.7"');
    case 'box-bonus': return stroke(p.bonus, 2);
    case 'box-recovered': return stroke(p.recovered, 2);
    case 'link-accepted': return line(p.accepted, 2.5);
    case 'link-rejected': return line(p.rejected, 1, ' stroke-dasharray="4 3" opacity="0.7"');
    case 'link-bonus': return line(p.bonus, 2);
    case 'link-recovered': return line(p.recovered, 2);
    case 'tok': return ` fill="${p.fg}" font-family="${MONO}" font-size="12"`;
    case 'prob': return ` fill="${p.muted}" font-family="${MONO}" font-size="10"`;
    case 'label': return ` fill="${p.muted}" font-family="${SANS}" font-size="11"`;
    case 'title': return ` fill="${p.fg}" font-family="${SANS}" font-size="13" font-weight="600"`;
    case 'cell': return ` fill="${colour ?? p.box}" fill-opacity="0.3" stroke="${colour ?? p.border}" stroke-width="1"`;
    case 'mark': return ` fill="${p.fg}"`;
    case 'masked': return ` fill="${p.masked}" fill-opacity="0.45" stroke="${p.masked}" stroke-width="1"`;
    case 'unmasked': return ` fill="${p.box}" stroke="${p.border}" stroke-width="1"`;
    case 'bar-accepted': return ` fill="${p.accepted}"`;
    case 'bar-bonus': return ` fill="${p.bonus}"`;
    case 'bar-recovered': return ` fill="${p.recovered}"`;
  }
}

const n = (x: number): string => String(Math.round(x * 10) / 10);

// ---------------------------------------------------------------------------------------------
// Acceptance tree

const KIND_LABEL = { root: 'last committed token', accepted: 'accepted', rejected: 'rejected', bonus: 'bonus', recovered: 'recovered' } as const;

/** The hover text of a tree node: kind, text, draft and target probabilities, position, exit layer. */
export function nodeDetails(d: PlacedNode): string {
  if (d.kind === 'root') return 'Last committed token: the draft starts here.';
  const parts = [`${KIND_LABEL[d.kind]} “${visible(d.text)}”`];
  if (d.index >= 0) parts.push(`draft probability ${percent(d.draftProb)}`);
  parts.push(`target probability ${percent(d.targetProb)}`);
  parts.push(`position ${d.position} (depth ${d.depth})`);
  if (d.exitLayer !== undefined) parts.push(`exit layer ${d.exitLayer}`);
  return parts.join(' · ');
}

function nodeMarkup(d: PlacedNode, p: Palette | undefined): string {
  const tok = d.kind === 'root' ? '▸ context' : cut(visible(d.text), 11);
  const prob =
    d.kind === 'root' ? '' : d.index >= 0 ? `q${shortProb(d.draftProb)} p${shortProb(d.targetProb)}` : `${d.kind === 'bonus' ? '+' : '↺'} p${shortProb(d.targetProb)}`;
  const layer = d.exitLayer !== undefined ? ` L${d.exitLayer}` : '';
  return (
    `<g class="node ${d.kind}" transform="translate(${n(d.x)},${n(d.y)})" tabindex="0" data-id="${d.id}" data-position="${d.position}">` +
    `<title>${esc(nodeDetails(d))}</title>` +
    `<rect class="box" width="${NODE_W}" height="${NODE_H}" rx="4"${paint(`box-${d.kind}`, p)}/>` +
    `<text class="tok" x="6" y="14"${paint('tok', p)}>${esc(tok)}</text>` +
    `<text class="prob" x="6" y="28"${paint('prob', p)}>${esc(prob + layer)}</text>` +
    `</g>`
  );
}

function linkMarkup(l: PlacedLink, p: Palette | undefined): string {
  const mx = (l.from.x + l.to.x) / 2;
  const d = `M${n(l.from.x)},${n(l.from.y)} C${n(mx)},${n(l.from.y)} ${n(mx)},${n(l.to.y)} ${n(l.to.x)},${n(l.to.y)}`;
  return `<path class="link ${l.kind}" d="${d}"${paint(`link-${l.kind}`, p)}/>`;
}

/** The acceptance tree of one step. */
export function treeSvg(step: ViewStep, p?: Palette): Drawn {
  const t = layoutTree(step);
  // Links first, so nodes draw over them; accepted links last among links, so they stay on top.
  const links = [...t.links].sort((a, b) => Number(a.kind === 'accepted') - Number(b.kind === 'accepted'));
  return { body: `<g class="tree">${links.map((l) => linkMarkup(l, p)).join('')}${t.nodes.map((d) => nodeMarkup(d, p)).join('')}</g>`, width: t.width, height: t.height };
}

// ---------------------------------------------------------------------------------------------
// Exit-layer strip

/** A legend entry: the exit layers from..to share colour `colour` (0-based, < EXIT_COLOURS). */
export interface ExitBucket {
  from: number;
  to: number;
  colour: number;
}

/** Colour buckets for the exit layers present: one colour each when few, equal ranges otherwise. */
export function exitBuckets(layers: readonly number[]): ExitBucket[] {
  const distinct = [...new Set(layers.filter((l) => Number.isFinite(l)))].sort((a, b) => a - b);
  if (distinct.length === 0) return [];
  if (distinct.length <= EXIT_COLOURS) return distinct.map((l, i) => ({ from: l, to: l, colour: i }));
  const lo = distinct[0]!;
  const hi = distinct[distinct.length - 1]!;
  const span = (hi - lo + 1) / EXIT_COLOURS;
  const buckets: ExitBucket[] = [];
  for (let i = 0; i < EXIT_COLOURS; i++) {
    const from = Math.ceil(lo + i * span);
    const to = Math.min(hi, Math.ceil(lo + (i + 1) * span) - 1);
    if (from <= to) buckets.push({ from, to, colour: buckets.length });
  }
  return buckets;
}

/** The bucket colour of a layer, or -1. */
export function exitColour(buckets: readonly ExitBucket[], layer: number | undefined): number {
  if (layer === undefined) return -1;
  return buckets.find((b) => layer >= b.from && layer <= b.to)?.colour ?? -1;
}

const ORIGIN_LABEL = { accepted: 'drafted and accepted', bonus: 'bonus (target)', recovered: 'recovered (target, after a rejection)' } as const;

function cellWidth(t: StripToken): number {
  return Math.max(22, [...cut(visible(t.text), 14)].length * 7.4 + 10);
}

function stripCell(t: StripToken, x: number, y: number, buckets: readonly ExitBucket[], p: Palette | undefined): string {
  const w = cellWidth(t);
  const c = exitColour(buckets, t.exitLayer);
  const cls = c >= 0 ? `exit-${c}` : `origin-${t.origin}`;
  const colour = p ? (c >= 0 ? p.exit[c] : t.origin === 'accepted' ? p.accepted : t.origin === 'bonus' ? p.bonus : p.recovered) : undefined;
  const title = `“${visible(t.text)}” · position ${t.position} · step ${t.step + 1} · ${ORIGIN_LABEL[t.origin]}${t.exitLayer !== undefined ? ` · exit layer ${t.exitLayer}` : ''}`;
  const mark = t.origin === 'accepted' ? `<rect class="drafted-mark" x="3" y="21" width="${n(w - 6)}" height="3"${paint('mark', p)}/>` : '';
  const layer = t.exitLayer !== undefined ? `<text class="prob" x="${n(w / 2)}" y="36" text-anchor="middle"${paint('prob', p)}>L${t.exitLayer}</text>` : '';
  return (
    `<g class="token ${cls} ${t.origin}" transform="translate(${n(x)},${n(y)})" data-position="${t.position}"${t.exitLayer !== undefined ? ` data-exit-layer="${t.exitLayer}"` : ''}>` +
    `<title>${esc(title)}</title><rect class="cell" width="${n(w)}" height="20" rx="3"${paint('cell', p, colour)}/>` +
    `<text class="tok" x="${n(w / 2)}" y="14" text-anchor="middle"${paint('tok', p)}>${esc(cut(visible(t.text), 14))}</text>${mark}${layer}</g>`
  );
}

function swatch(x: number, y: number, cls: string, label: string, p: Palette | undefined, colour?: string): Drawn {
  const body =
    `<g class="swatch ${cls}" transform="translate(${n(x)},${n(y)})"><rect class="cell" width="14" height="14" rx="2"${paint('cell', p, colour)}/>` +
    `<text class="label" x="19" y="11"${paint('label', p)}>${esc(label)}</text></g>`;
  return { body, width: 19 + label.length * 6.2 + 14, height: 14 };
}

function legend(buckets: readonly ExitBucket[], y: number, width: number, p: Palette | undefined): Drawn {
  const items: [string, string, string | undefined][] = buckets.length
    ? buckets.map((b) => [`exit-${b.colour}`, b.from === b.to ? `layer ${b.from}` : `layers ${b.from}–${b.to}`, p?.exit[b.colour]])
    : [['origin-accepted', ORIGIN_LABEL.accepted, p?.accepted], ['origin-bonus', ORIGIN_LABEL.bonus, p?.bonus], ['origin-recovered', ORIGIN_LABEL.recovered, p?.recovered]];
  let x = 0;
  let row = y;
  const parts: string[] = [];
  for (const [cls, label, colour] of items) {
    const s = swatch(x, row, cls, label, p, colour);
    if (x > 0 && x + s.width > width) {
      x = 0;
      row += 20;
      parts.push(swatch(x, row, cls, label, p, colour).body);
    } else parts.push(s.body);
    x += s.width;
  }
  const note = buckets.length ? 'underlined: drafted and accepted · plain: from the target' : 'no exit layers: every token ran all layers';
  parts.push(`<text class="label" x="0" y="${n(row + 32)}"${paint('label', p)}>${esc(note)}</text>`);
  return { body: `<g class="legend">${parts.join('')}</g>`, width, height: row - y + 38 };
}

/** The completion's tokens in order, coloured by exit layer (or by origin when there are none), with a legend. */
export function stripSvg(trace: ViewTrace, width: number, p?: Palette): Drawn {
  const buckets = exitBuckets(trace.strip.map((t) => t.exitLayer).filter((l): l is number => l !== undefined));
  const cells: string[] = [];
  let x = 0;
  let y = 0;
  for (const t of trace.strip) {
    const w = cellWidth(t);
    if (x > 0 && x + w > width) {
      x = 0;
      y += 42;
    }
    cells.push(stripCell(t, x, y, buckets, p));
    x += w + 3;
  }
  const top = trace.strip.length ? y + 44 : 0;
  const l = legend(buckets, top, width, p);
  return { body: `<g class="strip" data-exit-layers="${buckets.length > 0}">${cells.join('')}${l.body}</g>`, width, height: top + l.height };
}

// ---------------------------------------------------------------------------------------------
// Mask-Predict

const MAX_COLUMNS = 64;

/**
 * One row per Mask-Predict iteration: that iteration's tokens by position, the ones it re-masked
 * filled (they are predicted again in the next iteration). Null when no step re-masked.
 */
export function remaskSvg(trace: ViewTrace, p?: Palette): Drawn | null {
  const rows = trace.steps.filter((s) => s.remasked !== undefined);
  if (rows.length === 0) return null;
  const span = Math.max(...rows.map((s) => s.nodes.length), ...rows.flatMap((s) => s.remasked!.map((r) => r.position + 1)));
  const cols = Math.min(MAX_COLUMNS, span);
  const label = (s: ViewStep, c: number) => cut(visible(s.nodes.find((nd) => nd.position - s.nodes[0]!.position === c)?.text ?? ''), 8);
  const widths = Array.from({ length: cols }, (_, c) => Math.max(16, ...rows.map((s) => [...label(s, c)].length * 7.4 + 8)));
  const left = 78;
  const parts: string[] = [];
  rows.forEach((s, r) => {
    const y = r * 24;
    const masked = new Map(s.remasked!.map((m) => [m.position, m.confidence]));
    parts.push(`<text class="label" x="0" y="${y + 14}"${paint('label', p)}>iteration ${s.step + 1}</text>`);
    let x = left;
    for (let c = 0; c < cols; c++) {
      const conf = masked.get(c);
      const cls = conf === undefined ? 'unmasked' : 'masked';
      const title = `position ${c}: “${visible(label(s, c))}”, ${conf === undefined ? 'kept' : `re-masked (confidence ${percent(conf)})`}`;
      parts.push(
        `<g class="slot ${cls}" transform="translate(${n(x)},${y})"><title>${esc(title)}</title>` +
          `<rect class="cell" width="${n(widths[c]!)}" height="20" rx="3"${paint(cls, p)}/>` +
          `<text class="tok" x="${n(widths[c]! / 2)}" y="14" text-anchor="middle"${paint('tok', p)}>${esc(label(s, c))}</text></g>`,
      );
      x += widths[c]! + 3;
    }
  });
  const width = Math.max(420, left + widths.reduce((a, w) => a + w + 3, 0));
  const height = rows.length * 24;
  const note = `<text class="label" x="0" y="${height + 14}"${paint('label', p)}>filled: re-masked after that iteration, so predicted again${span > cols ? ` (first ${cols} positions shown)` : ''}</text>`;
  return { body: `<g class="remask">${parts.join('')}${note}</g>`, width, height: height + 20 };
}

// ---------------------------------------------------------------------------------------------
// The exported document

/** What a step drafted and kept, in words. */
export function draftCounts(step: ViewStep): string {
  return step.nodes.length ? `${step.accepted} of ${step.nodes.length} drafted accepted, ${step.emitted} emitted` : `no draft, ${step.emitted} emitted by the target`;
}

/** The summary as short lines, shared by the export and the live view's heading. */
export function summaryLines(trace: ViewTrace): string[] {
  const s = trace.summary;
  const speed = s.speedup.value === null ? '–' : `≈${s.speedup.value.toFixed(2)}×`;
  return [
    `${s.strategy} · ${s.model}${s.drafter && s.drafter !== 'none' ? ` · drafter ${s.drafter}` : ''}`,
    `${s.tokens} tokens in ${s.steps} steps · ${num(s.tokensPerSecond)} tok/s · acceptance ${percent(s.acceptanceRate)} · ${num(s.meanAcceptedPerStep, 2)} accepted per step`,
    `estimated speed-up over autoregressive decoding: ${speed} (estimate: ${s.speedup.method})`,
  ];
}

function timeline(trace: ViewTrace, selected: number, p: Palette | undefined): Drawn {
  const bar = 14;
  const unit = 6;
  const top = Math.max(1, ...trace.steps.map((s) => s.emitted)) * unit;
  const parts = trace.steps.map((s, i) => {
    const x = i * (bar + 4);
    const acc = s.accepted * unit;
    const extra = Math.max(0, s.emitted - s.accepted) * unit;
    const kind = s.bonus?.kind ?? 'bonus';
    const sel = i === selected ? `<rect x="${x - 1}" y="${top + 2}" width="${bar + 2}" height="2"${paint('mark', p)}/>` : '';
    return (
      `<g class="bar${i === selected ? ' selected' : ''}"><title>step ${s.step + 1}: ${s.emitted} tokens (${s.accepted} accepted of ${s.nodes.length} drafted)</title>` +
      `<rect class="bar-accepted" x="${x}" y="${top - acc - extra}" width="${bar}" height="${acc}"${paint('bar-accepted', p)}/>` +
      `<rect class="bar-${kind}" x="${x}" y="${top - extra}" width="${bar}" height="${extra}"${paint(`bar-${kind}`, p)}/>${sel}</g>`
    );
  });
  return { body: `<g class="timeline">${parts.join('')}</g>`, width: trace.steps.length * (bar + 4), height: top + 6 };
}

/** Lines of at most `width` characters, broken at spaces (SVG text does not wrap). */
export function wrap(line: string, width: number): string[] {
  const out: string[] = [];
  let cur = '';
  for (const word of line.split(' ')) {
    if (cur && cur.length + 1 + word.length > width) {
      out.push(cur);
      cur = `  ${word}`;
    } else cur = cur ? `${cur} ${word}` : word;
  }
  return [...out, cur];
}

function text(x: number, y: number, role: 'title' | 'label', s: string, p: Palette): string {
  return `<text class="${role}" x="${x}" y="${y}"${paint(role, p)}>${esc(s)}</text>`;
}

/** The whole view of one completion as a standalone SVG document, painted with `p`. */
export function exportSvg(trace: ViewTrace, stepIndex: number, p: Palette): string {
  const step = trace.steps[Math.max(0, Math.min(stepIndex, trace.steps.length - 1))];
  const width = 900;
  const parts: string[] = [];
  let y = 20;
  parts.push(text(12, y, 'title', `Hasten · completion #${trace.id}${trace.file ? ` · ${trace.file}` : ''}`, p));
  for (const line of summaryLines(trace).flatMap((l) => wrap(l, 140))) parts.push(text(12, (y += 18), 'label', line, p));
  y += 16;
  const tl = timeline(trace, step ? trace.steps.indexOf(step) : -1, p);
  parts.push(text(12, (y += 12), 'label', 'Tokens per step (accepted, then bonus or recovered)', p), `<g transform="translate(12,${y + 6})">${tl.body}</g>`);
  y += tl.height + 24;
  let w = Math.max(width, tl.width + 24);
  if (step) {
    const tree = treeSvg(step, p);
    parts.push(text(12, y, 'label', `Acceptance tree, step ${step.step + 1} (${step.drafter}): ${draftCounts(step)}`, p));
    parts.push(`<g transform="translate(12,${y + 6})">${tree.body}</g>`);
    y += tree.height + 30;
    w = Math.max(w, tree.width + 24);
  }
  const strip = stripSvg(trace, width - 24, p);
  parts.push(text(12, y, 'label', strip.body.includes('data-exit-layers="true"') ? 'Exit layers' : 'Output tokens', p), `<g transform="translate(12,${y + 8})">${strip.body}</g>`);
  y += strip.height + 30;
  const rm = remaskSvg(trace, p);
  if (rm) {
    parts.push(text(12, y, 'label', 'Mask-Predict: re-masked positions per iteration', p), `<g transform="translate(12,${y + 8})">${rm.body}</g>`);
    y += rm.height + 30;
    w = Math.max(w, rm.width + 24);
  }
  const h = Math.ceil(y);
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="${SVG_NS}" width="${Math.ceil(w)}" height="${h}" viewBox="0 0 ${Math.ceil(w)} ${h}">` +
    `<rect width="100%" height="100%" fill="${p.bg}"/>${parts.join('')}</svg>\n`
  );
}

/** A part wrapped as an inline <svg> element for the live view. */
export function inlineSvg(d: Drawn, cls: string, label: string): string {
  return `<svg xmlns="${SVG_NS}" class="${cls}" role="img" aria-label="${esc(label)}" width="${Math.ceil(d.width)}" height="${Math.ceil(d.height)}" viewBox="0 0 ${Math.ceil(d.width)} ${Math.ceil(d.height)}">${d.body}</svg>`;
}
