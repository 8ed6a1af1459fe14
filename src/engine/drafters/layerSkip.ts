// LayerSkip's draft stage (Elhoushi et al. 2024): the target's own first E layers plus the shared
// final norm and LM head propose a chain. Unlike every other drafter this one writes into the
// target's cache: the K/V of layers 0..E-1 and the layer-E hidden states of the drafted tokens are
// exactly what the verifier needs, so it keeps them (`last`) and the verifier only runs layers
// E..L-1. Draft length k adapts per E with DraftLength (+2 / -1); E itself by ExitLayerBandit.
import { confidence } from '../decoders/confidence';
import { throwIfAborted } from '../errors';
import { Hidden, LayeredModel } from '../model/layered';
import { distribution, isGreedy, sample } from '../sampling';
import { DraftTree, emptyTree } from '../verify/tree';
import { DRAFT_MIN_CONFIDENCE, DraftLength, Drafter, DraftOutcome, DraftRequest, newStats, recordOutcome } from './types';

/**
 * Chooses the exit layer E from measured milliseconds per emitted token (E changes acceptance and
 * cost at once, and both are what the user pays). Every arm is tried `warmup` times first; then
 * the cheapest estimate wins, except every `exploreEvery`-th step, which goes to the arm tried
 * least recently so a stale estimate can recover. An arm's estimate is its decayed step time over
 * its decayed emitted tokens (each step's weight falls by `decay` per later step of that arm): a
 * ratio of sums, so a step that emitted one token in a whole step's time counts for what it cost.
 * A moving average of per-step ratios (the estimate before) let a few long-accepted steps hide the
 * rejected ones, and settled on deeper E than the cheapest (mean E 4.73 where a fixed E = 4 was
 * faster, on the tuning prompts: `hasten exit-sweep --prompts tuning --self-spec-layers 2,3,4,5`).
 * Deterministic, so runs are reproducible.
 */
export class ExitLayerBandit {
  /** Per arm, decayed sums of step milliseconds and of tokens those steps emitted. */
  private readonly sums = new Map<number, { ms: number; tokens: number }>();
  private readonly tries = new Map<number, number>();
  private readonly lastTried = new Map<number, number>();
  private steps = 0;

  constructor(readonly arms: readonly number[], readonly warmup = 3, readonly exploreEvery = 16, readonly decay = 0.05) {}

  choose(): number {
    this.steps++;
    const untried = this.arms.find((a) => (this.tries.get(a) ?? 0) < this.warmup);
    if (untried !== undefined) return untried;
    if (this.steps % this.exploreEvery === 0) return [...this.arms].sort((a, b) => (this.lastTried.get(a) ?? 0) - (this.lastTried.get(b) ?? 0))[0]!;
    return [...this.arms].sort((a, b) => this.estimate(a) - this.estimate(b))[0]!;
  }

  record(arm: number, tokens: number, ms: number): void {
    this.tries.set(arm, (this.tries.get(arm) ?? 0) + 1);
    this.lastTried.set(arm, this.steps);
    const s = this.sums.get(arm) ?? { ms: 0, tokens: 0 };
    this.sums.set(arm, { ms: s.ms * (1 - this.decay) + ms, tokens: s.tokens * (1 - this.decay) + tokens });
  }

  /** Milliseconds per emitted token at `arm`: its decayed time over its decayed tokens (a ratio of sums, not a mean of per-step ratios). */
  estimate(arm: number): number {
    const s = this.sums.get(arm);
    return s && s.tokens > 0 ? s.ms / s.tokens : Infinity;
  }

  estimates(): Record<number, number> {
    return Object.fromEntries(this.arms.filter((a) => this.sums.has(a)).map((a) => [a, this.estimate(a)]));
  }
}

export interface LayerSkipOptions {
  /** Initial exit layer E, in 1..L-1. */
  exitLayer: number;
  /** Initial draft length k. */
  draftLength: number;
  /** Adapt E within exitLayer ± this many layers (0 keeps E fixed). */
  exitSpread: number;
  /** The chain stops after a token drafted with less than this probability (as the draft model's; 0: off). */
  minConfidence?: number;
}

/** What a draft left in the layered model for its verification. */
export interface LayerSkipDraft {
  exitLayer: number;
  /** Slots of the root and of every draft token but the last (they went through layers 0..E-1). */
  slots: number[];
  /** Their layer-E hidden states, one row each. */
  hidden: Hidden[];
}

export class LayerSkipDrafter implements Drafter {
  readonly name = 'layer-skip';
  readonly stats = newStats();
  readonly bandit: ExitLayerBandit;
  /** Set by draft(), consumed by the verifier. */
  last: LayerSkipDraft | null = null;
  private readonly lengths = new Map<number, DraftLength>();
  private stepStart = 0;

  constructor(private readonly model: LayeredModel, private readonly o: LayerSkipOptions) {
    const L = model.numLayers;
    const arms: number[] = [];
    for (let e = o.exitLayer - o.exitSpread; e <= o.exitLayer + o.exitSpread; e++) if (e >= 1 && e < L) arms.push(e);
    this.bandit = new ExitLayerBandit(arms.length ? arms : [Math.min(L - 1, Math.max(1, o.exitLayer))]);
  }

  async begin(): Promise<void> {}

  /** Draft length currently used at exit layer `e`. */
  lengthAt(e: number): DraftLength {
    let d = this.lengths.get(e);
    if (!d) this.lengths.set(e, (d = new DraftLength(this.o.draftLength, 1, 12)));
    return d;
  }

  async draft(req: DraftRequest): Promise<DraftTree> {
    this.stepStart = performance.now();
    const E = this.bandit.choose();
    const k = Math.min(this.lengthAt(E).current, req.maxDepth, req.maxNodes);
    const tree = emptyTree();
    const last: LayerSkipDraft = { exitLayer: E, slots: [], hidden: [] };
    this.last = last;
    const stop = this.model.folder.tokenizer.stopIds;
    let token = req.history[req.history.length - 1]!;
    for (let i = 0; i < k; i++) {
      throwIfAborted(req.signal);
      const slots = this.model.allocate(1);
      const h = await this.model.run(0, E, slots, await this.model.embed([token]));
      last.slots.push(slots[0]!);
      last.hidden.push(h);
      const logits = (await this.model.logits(h)).row(0);
      const q = distribution(logits, req.sampling);
      token = sample(q, req.rand);
      tree.tokens.push(token);
      tree.parents.push(i - 1);
      tree.probs.push(isGreedy(req.sampling) ? null : q);
      const sure = isGreedy(req.sampling) ? confidence('softmax', logits, h.row(0), h.row(0)) : q[token]!;
      tree.confidence.push(sure);
      if (stop.has(token) || sure < (this.o.minConfidence ?? DRAFT_MIN_CONFIDENCE)) break;
    }
    this.stats.drafts++;
    this.stats.drafted += tree.tokens.length;
    this.stats.draftMs += performance.now() - this.stepStart;
    return tree;
  }

  /** Feedback after verification: acceptance adapts k at this E; the step's time per token scores E. */
  update(outcome: DraftOutcome): void {
    const E = this.last?.exitLayer;
    if (E === undefined) return;
    recordOutcome(this.stats, this.lengthAt(E), outcome);
    this.bandit.record(E, outcome.accepted.length + 1, performance.now() - this.stepStart);
  }

  async dispose(): Promise<void> {}
}
