// Token trees as plain data: node i has a token and a parent (-1 = the last committed token).
// A chain is the tree whose parents are -1, 0, 1, ...

/** A draft: nodes in topological order (every parent before its children). */
export interface DraftTree {
  tokens: number[]; // [N]
  parents: number[]; // [N], -1 = attached to the last committed token
  /**
   * For drafters that sample: the draft distribution each node was drawn from (at its parent),
   * [N][vocab]; null for a node proposed deterministically. Used by exact rejection sampling.
   */
  probs: (Float32Array | null)[];
  /** Probability of each node's token under the drafter, for the trace; null when it has none. */
  confidence: (number | null)[];
}

export const emptyTree = (): DraftTree => ({ tokens: [], parents: [], probs: [], confidence: [] });

/** A chain of deterministic proposals. */
export function chain(tokens: readonly number[], confidence: (number | null)[] = []): DraftTree {
  return { tokens: [...tokens], parents: tokens.map((_, i) => i - 1), probs: tokens.map(() => null), confidence: tokens.map((_, i) => confidence[i] ?? null) };
}

/** Children of `node` (-1 = the root), in order. */
export function children(tree: DraftTree, node: number): number[] {
  const out: number[] = [];
  tree.parents.forEach((p, i) => {
    if (p === node) out.push(i);
  });
  return out;
}

/** Depth of the deepest node (0 for an empty tree). */
export function treeDepth(tree: DraftTree): number {
  const d: number[] = [];
  for (const p of tree.parents) d.push(p < 0 ? 1 : d[p]! + 1);
  return d.length ? Math.max(...d) : 0;
}

/**
 * Merges token sequences into a trie (shared prefixes share nodes), keeping at most `maxNodes`
 * nodes, earlier sequences first. Used by lookup and retrieval drafters.
 */
export function trieOf(seqs: readonly (readonly number[])[], maxNodes: number): DraftTree {
  const tree = emptyTree();
  const index = new Map<string, number>();
  for (const seq of seqs) {
    let parent = -1;
    for (const tok of seq) {
      const key = `${parent}:${tok}`;
      let node = index.get(key);
      if (node === undefined) {
        if (tree.tokens.length >= maxNodes) break;
        node = tree.tokens.length;
        tree.tokens.push(tok);
        tree.parents.push(parent);
        tree.probs.push(null);
        tree.confidence.push(null);
        index.set(key, node);
      }
      parent = node;
    }
  }
  return tree;
}
