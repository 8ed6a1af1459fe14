// Prompt lookup decoding: the continuation of an earlier occurrence of the last n tokens is a
// good guess in code, which repeats itself. No model, no cost to speak of.
import { DraftTree, emptyTree, trieOf } from '../verify/tree';
import { DraftLength, DraftOutcome, DraftRequest, Drafter, newStats, recordOutcome } from './types';

export interface LookupOptions {
  /** Longest and shortest n-gram to match, tried longest first. */
  maxNgram: number;
  minNgram: number;
  /** Initial draft depth; adapts to acceptance. */
  draftLength: number;
  /** Distinct continuations to merge into a tree (1 = a chain). */
  branches: number;
  /** Matches shorter than this many tokens draft one continuation (a chain) whatever `branches` says. */
  treeFromNgram?: number;
  /** The deepest draft after a match of g tokens is `depthByNgram[g]` (none given: the adaptive length alone). */
  depthByNgram?: readonly number[];
}

export const DEFAULT_LOOKUP: LookupOptions = { maxNgram: 4, minNgram: 1, draftLength: 8, branches: 1 };

/**
 * Continuations (up to `depth` tokens) that followed earlier occurrences of the longest matching
 * suffix of `seq`, most recent first, de-duplicated.
 */
export function lookupContinuations(seq: readonly number[], o: LookupOptions, depth: number): number[][] {
  return lookupMatch(seq, o, depth).continuations;
}

/**
 * `lookupContinuations` with the length of the matched suffix (0: none). `treeFromNgram` and
 * `depthByNgram` size the draft by it: a match of one token is right less than half as often as
 * one of four (the bundled target on the bench's prompts, `bench/lookupReplay.ts`: 0.54 of 3.5
 * drafted tokens accepted after one, 3.1 of 4.2 after four); `AUTO_LOOKUP` in engine.ts uses both.
 */
export function lookupMatch(seq: readonly number[], o: LookupOptions, depth: number): { ngram: number; continuations: number[][] } {
  const n = seq.length;
  for (let g = Math.min(o.maxNgram, n - 1); g >= o.minNgram; g--) {
    const out: number[][] = [];
    const seen = new Set<string>();
    const branches = g < (o.treeFromNgram ?? 0) ? 1 : o.branches;
    const d = Math.min(depth, o.depthByNgram?.[g] ?? depth);
    if (d <= 0) return { ngram: g, continuations: [] };
    // Scan backwards so the most recent occurrence comes first.
    for (let start = n - g - 1; start >= 0 && out.length < branches; start--) {
      let match = true;
      for (let j = 0; j < g; j++) {
        if (seq[start + j] !== seq[n - g + j]) {
          match = false;
          break;
        }
      }
      if (!match) continue;
      const cont = seq.slice(start + g, Math.min(n, start + g + d));
      const key = cont.join(',');
      if (cont.length > 0 && !seen.has(key)) {
        seen.add(key);
        out.push(cont);
      }
    }
    if (out.length > 0) return { ngram: g, continuations: out };
  }
  return { ngram: 0, continuations: [] };
}

export class PromptLookupDrafter implements Drafter {
  readonly name = 'prompt-lookup';
  readonly stats = newStats();
  private readonly length: DraftLength;

  constructor(private readonly o: LookupOptions = DEFAULT_LOOKUP) {
    this.length = new DraftLength(o.draftLength, 1, 32);
  }

  async begin(): Promise<void> {}

  async draft(req: DraftRequest): Promise<DraftTree> {
    const t0 = performance.now();
    const depth = Math.min(this.length.current, req.maxDepth);
    const tree = depth <= 0 ? emptyTree() : trieOf(lookupContinuations(req.history, this.o, depth), req.maxNodes);
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

/**
 * How many verification steps prompt lookup would have taken to produce `output` after `prompt`
 * (a chain drafter from a fresh draft length, each step accepting the draft's longest prefix that
 * matches `output` plus one bonus token). Its drafts cost nothing to compute, so this is known for
 * any completion, whichever strategy produced it: auto uses it as a per-context yardstick, so a
 * completion on an easy context and one on a hard context can be compared (with greedy decoding the
 * output is the same for every lossless strategy; with sampling it is an estimate).
 */
export function lookupSteps(prompt: readonly number[], output: readonly number[], o: LookupOptions = DEFAULT_LOOKUP): number {
  if (output.length < 2) return 0;
  const history = [...prompt, output[0]!];
  const length = new DraftLength(o.draftLength, 1, 32);
  let steps = 0;
  for (let i = 1; i < output.length; ) {
    steps++;
    const depth = Math.min(length.current, output.length - i - 1);
    const draft = depth > 0 ? (lookupContinuations(history, { ...o, branches: 1 }, depth)[0] ?? []) : [];
    let k = 0;
    while (k < draft.length && draft[k] === output[i + k]) k++;
    length.update(draft.length, k);
    const n = Math.min(k + 1, output.length - i);
    for (let j = 0; j < n; j++) history.push(output[i + j]!);
    i += n;
  }
  return steps;
}
