// Retrieval drafting (REST, He et al. 2024): a datastore of token sequences from the workspace,
// searched with a suffix array for the longest suffix of the current context; the continuations
// that followed it, ranked by how often they occur, become a draft tree.
//
// Each document has its own suffix array, so a changed file re-indexes alone: updates cost
// O(n log n) in that file's length, and the rest of the index is untouched.
import { throwIfAborted } from '../errors';
import { TextTokenizer } from '../tokenizer';
import { DraftTree, emptyTree, trieOf } from '../verify/tree';
import { DraftLength, DraftOutcome, DraftRequest, Drafter, newStats, recordOutcome } from './types';

/** Suffixes are ordered by their first SORT_SPAN tokens; queries are never longer. */
const SORT_SPAN = 32;

interface IndexedDoc {
  tokens: Int32Array; // [n]
  sa: Int32Array; // [n] suffix start positions, sorted
}

export interface RetrievalOptions {
  maxDocTokens: number;
  maxDocs: number;
  /** Longest and shortest context suffix to search for. */
  maxMatch: number;
  minMatch: number;
  /** Occurrences examined per query. */
  maxOccurrences: number;
  branches: number;
  draftLength: number;
}

export const DEFAULT_RETRIEVAL: RetrievalOptions = { maxDocTokens: 50_000, maxDocs: 200, maxMatch: 12, minMatch: 2, maxOccurrences: 64, branches: 4, draftLength: 8 };

function compareAt(tokens: Int32Array, a: number, b: number): number {
  const n = tokens.length;
  for (let k = 0; k < SORT_SPAN; k++) {
    if (a + k >= n || b + k >= n) return (n - a) - (n - b) === 0 ? 0 : a + k >= n ? -1 : 1;
    const d = tokens[a + k]! - tokens[b + k]!;
    if (d !== 0) return d;
  }
  return 0;
}

/** Builds the suffix array of a token sequence (ordered by the first SORT_SPAN tokens). */
export function suffixArray(tokens: Int32Array): Int32Array {
  const sa = Array.from({ length: tokens.length }, (_, i) => i);
  sa.sort((a, b) => compareAt(tokens, a, b) || a - b);
  return Int32Array.from(sa);
}

/** Compares the suffix at `pos` with `pattern` on the pattern's length. */
function comparePattern(tokens: Int32Array, pos: number, pattern: readonly number[]): number {
  for (let k = 0; k < pattern.length; k++) {
    if (pos + k >= tokens.length) return -1;
    const d = tokens[pos + k]! - pattern[k]!;
    if (d !== 0) return d;
  }
  return 0;
}

/** [lo, hi) range of suffixes that start with `pattern`. */
export function findRange(doc: IndexedDoc, pattern: readonly number[]): [number, number] {
  let lo = 0;
  let hi = doc.sa.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (comparePattern(doc.tokens, doc.sa[mid]!, pattern) < 0) lo = mid + 1;
    else hi = mid;
  }
  const start = lo;
  hi = doc.sa.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (comparePattern(doc.tokens, doc.sa[mid]!, pattern) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return [start, lo];
}

/** The workspace datastore. Documents are keyed by an id (a URI in the extension). */
export class RetrievalIndex {
  private readonly docs = new Map<string, IndexedDoc>();

  constructor(private readonly tokenizer: TextTokenizer, private readonly o: RetrievalOptions = DEFAULT_RETRIEVAL) {}

  get size(): number {
    return this.docs.size;
  }

  get tokens(): number {
    let n = 0;
    for (const d of this.docs.values()) n += d.tokens.length;
    return n;
  }

  /**
   * Indexes (or re-indexes) one document. Text is encoded in ~4 KB slices with a yield between
   * them, so a large file never blocks the event loop for long; past maxDocTokens it is cut.
   */
  async update(id: string, text: string, signal?: AbortSignal): Promise<void> {
    const ids: number[] = [];
    for (let at = 0; at < text.length && ids.length < this.o.maxDocTokens;) {
      let end = Math.min(text.length, at + 4096);
      const nl = text.indexOf('\n', end);
      if (nl !== -1 && nl - end < 512) end = nl + 1;
      ids.push(...this.tokenizer.encode(text.slice(at, end)));
      at = end;
      await new Promise((r) => setImmediate(r));
      throwIfAborted(signal);
    }
    const tokens = Int32Array.from(ids.slice(0, this.o.maxDocTokens));
    this.docs.delete(id);
    this.docs.set(id, { tokens, sa: suffixArray(tokens) });
    // Least recently updated documents leave first.
    while (this.docs.size > this.o.maxDocs) this.docs.delete(this.docs.keys().next().value!);
  }

  remove(id: string): void {
    this.docs.delete(id);
  }

  /** Continuations of the longest indexed suffix of `context`, most frequent first. */
  lookup(context: readonly number[], depth: number): { seqs: number[][]; counts: number[]; total: number } {
    for (let m = Math.min(this.o.maxMatch, context.length); m >= this.o.minMatch; m--) {
      const pattern = context.slice(context.length - m);
      const counts = new Map<string, { seq: number[]; n: number }>();
      let total = 0;
      for (const doc of this.docs.values()) {
        const [lo, hi] = findRange(doc, pattern);
        for (let i = lo; i < hi && total < this.o.maxOccurrences; i++) {
          const start = doc.sa[i]! + m;
          const seq = Array.from(doc.tokens.subarray(start, Math.min(doc.tokens.length, start + depth)));
          if (seq.length === 0) continue;
          total++;
          const key = seq.join(',');
          const entry = counts.get(key);
          if (entry) entry.n++;
          else counts.set(key, { seq, n: 1 });
        }
      }
      if (total > 0) {
        const ranked = [...counts.values()].sort((a, b) => b.n - a.n);
        return { seqs: ranked.map((e) => e.seq), counts: ranked.map((e) => e.n), total };
      }
    }
    return { seqs: [], counts: [], total: 0 };
  }
}

export class RetrievalDrafter implements Drafter {
  readonly name = 'retrieval';
  readonly stats = newStats();
  private readonly length: DraftLength;

  constructor(readonly index: RetrievalIndex, private readonly o: RetrievalOptions = DEFAULT_RETRIEVAL) {
    this.length = new DraftLength(o.draftLength, 1, 32);
  }

  async begin(): Promise<void> {}

  async draft(req: DraftRequest): Promise<DraftTree> {
    const t0 = performance.now();
    const depth = Math.min(this.length.current, req.maxDepth);
    let tree = emptyTree();
    if (depth > 0) {
      const { seqs, counts, total } = this.index.lookup(req.history, depth);
      tree = trieOf(seqs.slice(0, this.o.branches), req.maxNodes);
      // Confidence of a node: the share of occurrences whose continuation passes through it.
      const top = seqs.slice(0, this.o.branches);
      tree.confidence = tree.tokens.map((_, node) => {
        const path: number[] = [];
        for (let j = node; j !== -1; j = tree.parents[j]!) path.unshift(tree.tokens[j]!);
        const n = top.reduce((s, seq, i) => s + (path.every((t, k) => seq[k] === t) ? counts[i]! : 0), 0);
        return total ? n / total : null;
      });
    }
    this.stats.drafts++;
    this.stats.drafted += tree.tokens.length;
    this.stats.draftMs += performance.now() - t0;
    return tree;
  }

  update(outcome: DraftOutcome): void {
    recordOutcome(this.stats, this.length, outcome);
  }

  async dispose(): Promise<void> {}
}
