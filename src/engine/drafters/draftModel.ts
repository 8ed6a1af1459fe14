// A small draft model proposes tokens autoregressively with its own KV cache. Its cache is kept in
// step with the target by prefix matching: whatever it drafted and the target rejected is dropped
// before the next draft, and the accepted tokens and the bonus are fed in.
import { CausalModel } from '../model/causal';
import { argmax, distribution, expSum, isGreedy, sample } from '../sampling';
import { DraftTree, emptyTree } from '../verify/tree';
import { DRAFT_MIN_CONFIDENCE, DraftLength, DraftOutcome, DraftRequest, Drafter, newStats, recordOutcome } from './types';

export interface DraftModelOptions {
  /** Initial draft depth; adapts to acceptance unless `adaptive` is false. */
  draftLength: number;
  adaptive: boolean;
  /**
   * Candidates per depth along the draft's own best path: [3, 2, 1] proposes the top-3 tokens at
   * depth 1, the top-2 at depth 2 and one at depth 3, continuing from the best. All 1s is a chain.
   */
  widths: number[];
  /**
   * With `adaptive`, the chain also stops after a token the draft gives less than this probability
   * (softmax of its logits): a draft run costs a share of a target step, and an unsure token is
   * seldom followed by accepted ones. 0.4 is Hugging Face transformers' `assistant_confidence_threshold`
   * default, taken as is (not tuned on the benchmark's held-out prompts). 0 turns it off.
   */
  minConfidence?: number;
}

export const DEFAULT_DRAFT_MODEL: DraftModelOptions = { draftLength: 4, adaptive: true, widths: [], minConfidence: DRAFT_MIN_CONFIDENCE };

/** Indices of the `k` largest values, excluding `skip`, largest first. */
export function topK(values: Float32Array, k: number, skip: number): number[] {
  const best: number[] = [];
  for (let i = 0; i < values.length; i++) {
    if (i === skip) continue;
    if (best.length < k || values[i]! > values[best[best.length - 1]!]!) {
      best.push(i);
      best.sort((a, b) => values[b]! - values[a]!);
      if (best.length > k) best.pop();
    }
  }
  return best;
}

export class DraftModelDrafter implements Drafter {
  readonly stats = newStats();
  private readonly length: DraftLength;

  constructor(private readonly model: CausalModel, private readonly o: DraftModelOptions = DEFAULT_DRAFT_MODEL) {
    this.length = new DraftLength(o.draftLength, 1, 16);
  }

  get name(): string {
    return `draft-model:${this.model.folder.name}`;
  }

  /**
   * Runs the prompt through the draft model (reusing its cached prefix), as part of the completion's
   * prefill: processing the prompt is prefill for every model a strategy runs (llama.cpp's speculative
   * decoding counts its draft's prompt the same way). Without it the first draft step paid for it.
   * A prompt that fills the draft's context is left to `draft`, which then drafts nothing.
   */
  async begin(prompt: readonly number[], signal?: AbortSignal): Promise<void> {
    if (prompt.length === 0 || prompt.length >= this.model.contextLength) return;
    const kept = this.model.retain(prompt);
    const feed = prompt.slice(kept);
    if (feed.length === 0) return;
    await this.model.forward(feed, null, signal, { lastOnly: true, read: 'argmax' });
    this.model.commit(feed.map((_, i) => i));
  }

  async draft(req: DraftRequest): Promise<DraftTree> {
    const t0 = performance.now();
    const tree = emptyTree();
    const room = this.model.contextLength - req.history.length;
    const depth = Math.min(this.o.adaptive ? this.length.current : this.o.draftLength, req.maxDepth, room);
    if (depth > 0) {
      // A greedy chain needs only each run's argmax and its probability: a graph that computes both (the CPU
      // graph from builder 6) spares the copy of the logits row and a pass over it in JS. Otherwise (a
      // device, an older build, top-k candidates) the rows are read.
      const greedy = isGreedy(req.sampling);
      const read = greedy && this.o.widths.every((w) => w <= 1) && this.model.greedyConfidence ? 'argmax' : 'rows';
      const kept = this.model.retain(req.history.slice(0, -1));
      const feed = req.history.slice(kept);
      let logits = await this.model.forward(feed, null, req.signal, { lastOnly: true, read });
      this.model.commit(feed.map((_, i) => i));
      let at = feed.length - 1;
      let parent = -1;
      for (let d = 0; d < depth && tree.tokens.length < req.maxNodes; d++) {
        const row = logits.hasRows ? logits.row(at) : null;
        let main: number;
        let q: Float32Array | null = null;
        let sure: number;
        if (greedy) {
          main = logits.argmax(at);
          // A greedy draft's token is the row's largest logit: no second pass to find it.
          sure = logits.confidence(at) ?? confidenceOf(row!, main, row![main]!);
        } else {
          q = distribution(row!, req.sampling);
          main = sample(q, req.rand);
          sure = confidenceOf(row!, main);
        }
        const node = tree.tokens.length;
        tree.tokens.push(main);
        tree.parents.push(parent);
        tree.probs.push(q);
        tree.confidence.push(sure);
        const width = this.o.widths[d] ?? 1;
        for (const alt of width > 1 ? topK(row!, width - 1, main) : []) {
          if (tree.tokens.length >= req.maxNodes) break;
          tree.tokens.push(alt);
          tree.parents.push(parent);
          tree.probs.push(null);
          tree.confidence.push(confidenceOf(row!, alt));
        }
        parent = node;
        const unsure = this.o.adaptive && sure < (this.o.minConfidence ?? DRAFT_MIN_CONFIDENCE);
        if (d + 1 < depth && tree.tokens.length < req.maxNodes && !unsure) {
          logits = await this.model.forward([main], null, req.signal, { read });
          this.model.commit([0]);
          at = 0;
        } else {
          break;
        }
      }
    }
    this.stats.drafts++;
    this.stats.drafted += tree.tokens.length;
    this.stats.draftMs += performance.now() - t0;
    return tree;
  }

  update(outcome: DraftOutcome): void {
    recordOutcome(this.stats, this.o.adaptive ? this.length : null, outcome);
  }

  /** The draft model belongs to whoever opened it (the engine shares it between drafters). */
  async dispose(): Promise<void> {}
}

/** Softmax probability of one entry, without materialising the whole distribution; `max`: the row's largest logit, when known. */
function confidenceOf(logits: Float32Array, i: number, max = logits[argmax(logits)]!): number {
  return Math.exp(logits[i]! - max) / expSum(logits, max);
}
