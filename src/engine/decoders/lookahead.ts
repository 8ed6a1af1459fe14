// Lookahead decoding (Fu et al. 2024): Jacobi iterations on a window of guessed future tokens
// feed an n-gram pool, and pool n-grams that start with the pending token are verified in the
// same forward pass. Lossless: only verified tokens are emitted, through the one acceptance rule.
//
// The whole step is one token tree, so it runs through CausalModel.forward like any draft tree:
//   node 0           the pending token (last sampled, not yet in the cache)
//   level 0          a chain of W guesses after it: column i sits at depth i + 1
//   level j (1..N-2) one node per column, child of the level j−1 node of the same column, so the
//                    node at (j, i) sees level 0 up to column i and then its own column: the 2-D
//                    lookahead mask of the paper, at depth i + 1 + j
//   verification     a trie of pool n-grams hanging off node 0
// The logits at the last level predict the next level; each column, read top to bottom plus its
// new token, is an n-gram for the pool. With the tree-attention graph this is one pass; a model
// without it runs the same tree as batched root-to-leaf paths (CausalModel's fallback, which copies
// the past once per path: correct and lossless, but slower, so expect little gain there).
import { HastenError } from '../errors';
import { CausalModel, Logits } from '../model/causal';
import { chooseAt, seededRandom } from '../sampling';
import { CompletionTrace } from '../trace';
import { readsArgmaxOnly, verifyRows } from '../verify/accept';
import { DraftTree, emptyTree, trieOf } from '../verify/tree';
import { decodeLoop, DecodeChunk, DecodeRequest, opening, Output, plainFirst, prefill } from './common';
import { stepTrace } from './speculative';

export interface LookaheadOptions {
  /** W: guessed future positions per Jacobi iteration. */
  window: number;
  /** N: n-gram size; the window keeps N−1 levels of trajectory. */
  ngram: number;
  /** G: most pool n-grams verified per step. */
  candidates: number;
  /** Also pool the n-grams of the prompt and of the output so far (code repeats itself). */
  contextNgrams: boolean;
}

export const DEFAULT_LOOKAHEAD: LookaheadOptions = { window: 2, ngram: 4, candidates: 2, contextNgrams: true };

/** n-grams keyed by their first token, most recently seen first, at most `perKey` per key. */
export class NgramPool {
  private readonly map = new Map<number, number[][]>();

  constructor(readonly n: number, readonly perKey: number) {}

  /** Adds one n-gram (its first token is the key); a repeat moves to the front. */
  add(gram: readonly number[]): void {
    if (gram.length < 2) return;
    const [first, ...rest] = gram as [number, ...number[]];
    const list = this.map.get(first) ?? [];
    const key = rest.join(',');
    const at = list.findIndex((g) => g.join(',') === key);
    if (at >= 0) list.splice(at, 1);
    list.unshift(rest);
    if (list.length > this.perKey) list.length = this.perKey;
    this.map.set(first, list);
  }

  /** Adds every complete n-gram of `seq` that starts at or after `from`, in order. */
  addSequence(seq: readonly number[], from = 0): void {
    for (let i = Math.max(0, from); i + this.n <= seq.length; i++) this.add(seq.slice(i, i + this.n));
  }

  /** Continuations (n−1 tokens each) of n-grams that start with `first`, most recent first. */
  get(first: number): readonly number[][] {
    return this.map.get(first) ?? [];
  }

  get size(): number {
    let s = 0;
    for (const l of this.map.values()) s += l.length;
    return s;
  }
}

/** The parents of a lookahead block: node 0, then `levels` levels of `width` columns, then a trie. */
export function lookaheadParents(levels: number, width: number, trieParents: readonly number[]): number[] {
  const parents = [-1];
  for (let j = 0; j < levels; j++) {
    for (let i = 0; i < width; i++) parents.push(j === 0 ? i : 1 + (j - 1) * width + i);
  }
  const offset = 1 + levels * width;
  for (const p of trieParents) parents.push(p < 0 ? 0 : offset + p);
  return parents;
}

/** The 2-D window of Jacobi trajectories: levels[j][i], level 0 the oldest. */
class JacobiWindow {
  levels: number[][];

  constructor(prompt: readonly number[], width: number, rand: () => number) {
    // The paper starts from random prompt tokens; any guess will do, the iterations repair it.
    this.levels = [Array.from({ length: width }, () => prompt[Math.floor(rand() * prompt.length)]!)];
  }

  get width(): number {
    return this.levels[0]!.length;
  }

  /** Narrows the window (near the end of the context). */
  shrink(width: number): void {
    this.levels = this.levels.map((l) => l.slice(0, width));
  }

  /**
   * Takes the new level predicted at the last level. Once N−1 levels exist, every column plus its
   * new token is an n-gram; the oldest level is dropped.
   */
  advance(next: number[], ngram: number, pool: NgramPool): void {
    if (this.levels.length < ngram - 1) {
      this.levels.push(next);
      return;
    }
    next.forEach((tok, i) => pool.add([...this.levels.map((l) => l[i]!), tok]));
    this.levels.push(next);
    this.levels.shift();
  }
}

export async function* lookahead(model: CausalModel, req: DecodeRequest, o: LookaheadOptions = DEFAULT_LOOKAHEAD): AsyncGenerator<DecodeChunk, CompletionTrace> {
  if (req.prompt.length === 0) throw new HastenError('bad-request', 'The prompt is empty.', 'Decoding needs at least one prompt token.');
  if (!(o.window >= 1) || !(o.ngram >= 2)) {
    throw new HastenError('bad-request', `Lookahead needs a window of at least 1 and n-grams of at least 2 (got W=${o.window}, N=${o.ngram}).`, 'Fix lookaheadWindow / lookaheadNgram.');
  }
  const pool = new NgramPool(o.ngram, Math.max(1, o.candidates));
  const window = new JacobiWindow(req.prompt, o.window, seededRandom(req.sampling.seed ^ 0x9e3779b9));
  const { tk, trace, out, rand, first } = await opening(model, req, 'lookahead', 'lookahead', () => prefill(model, req.prompt, req.signal, req.heal, req.sampling));
  const history = [...req.prompt];
  if (o.contextNgrams) pool.addSequence(history);
  let pending = chooseAt(first, 0, req.sampling, rand).token;
  history.push(pending);
  return yield* decodeLoop(trace, out, plainFirst(out, pending), () => Output.room(model), async (room) => {
    const s0 = performance.now();
    // 1. Draft: pool n-grams that continue the pending token, no deeper than budget and context.
    const depth = Math.max(0, Math.min(room, req.maxNewTokens - out.ids.length - 1, o.ngram - 1));
    const tree: DraftTree = depth > 0 ? trieOf(pool.get(pending).slice(0, o.candidates).map((g) => g.slice(0, depth)), o.candidates * (o.ngram - 1)) : emptyTree();
    // The lookahead branch reaches depth W + levels − 1 below the pending token: keep it inside the context.
    const fit = model.contextLength - model.length - window.levels.length;
    if (fit < window.width) window.shrink(Math.max(0, fit));
    // With no room to accept anything (the last token of the budget) the lookahead branch is wasted work.
    const levels = window.width > 0 && depth > 0 ? window.levels.length : 0;
    const W = window.width;
    const s1 = performance.now();
    // 2. Verify and look ahead in one pass.
    const tokens = [pending, ...window.levels.slice(0, levels).flat(), ...tree.tokens];
    // The window's next level reads argmaxes too: greedy verification reads nothing else (on a device, 8 bytes a row).
    const read = readsArgmaxOnly(tree, req.sampling) ? 'argmax' : 'rows';
    const logits = await model.forward(tokens, lookaheadParents(levels, W, tree.parents), req.signal, { read });
    const offset = 1 + levels * W;
    const rowOf = (node: number) => (node < 0 ? 0 : offset + node);
    // 3. Accept.
    const verdict = verifyRows(tree, (node) => logits.row(rowOf(node)), req.sampling, rand, (node) => logits.argmax(rowOf(node)));
    // 4. Roll back: keep the pending token and the accepted path; the window and the rest are dropped.
    model.commit([0, ...verdict.accepted.map((a) => offset + a)]);
    const newIds = [...verdict.accepted.map((a) => tree.tokens[a]!), verdict.bonus];
    history.push(...newIds);
    pending = verdict.bonus;
    // 5. Update: the next Jacobi level, the pool.
    if (levels > 0) window.advance(nextLevel(logits, levels, W), o.ngram, pool);
    if (o.contextNgrams) pool.addSequence(history, history.length - newIds.length - o.ngram + 1);
    const s2 = performance.now();
    return { newIds, trace: (emitted, n) => stepTrace(n, 'lookahead', tree, verdict, tk.tokenText.bind(tk), emitted, s1 - s0, s2 - s1) };
  });
}

/** The greedy guess at each column after the last level: the next Jacobi level. */
function nextLevel(logits: Logits, levels: number, width: number): number[] {
  const start = 1 + (levels - 1) * width;
  return Array.from({ length: width }, (_, i) => logits.argmax(start + i));
}
