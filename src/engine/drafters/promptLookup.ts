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
}

export const DEFAULT_LOOKUP: LookupOptions = { maxNgram: 4, minNgram: 1, draftLength: 8, branches: 1 };

/**
 * Continuations (up to `depth` tokens) that followed earlier occurrences of the longest matching
 * suffix of `seq`, most recent first, de-duplicated.
 */
export function lookupContinuations(seq: readonly number[], o: LookupOptions, depth: number): number[][] {
  const n = seq.length;
  for (let g = Math.min(o.maxNgram, n - 1); g >= o.minNgram; g--) {
    const out: number[][] = [];
    const seen = new Set<string>();
    // Scan backwards so the most recent occurrence comes first.
    for (let start = n - g - 1; start >= 0 && out.length < o.branches; start--) {
      let match = true;
      for (let j = 0; j < g; j++) {
        if (seq[start + j] !== seq[n - g + j]) {
          match = false;
          break;
        }
      }
      if (!match) continue;
      const cont = seq.slice(start + g, Math.min(n, start + g + depth));
      const key = cont.join(',');
      if (cont.length > 0 && !seen.has(key)) {
        seen.add(key);
        out.push(cont);
      }
    }
    if (out.length > 0) return out;
  }
  return [];
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
