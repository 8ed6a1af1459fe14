// The decoding strategies Hasten offers, and the auto strategy's choice among them.

export const STRATEGY_IDS = ['auto', 'autoregressive', 'draft-model', 'token-tree', 'prompt-lookup', 'retrieval', 'early-exit', 'self-speculation', 'lookahead', 'mask-predict'] as const;
export type Strategy = (typeof STRATEGY_IDS)[number];

export interface StrategyInfo {
  id: Strategy;
  label: string;
  description: string;
  lossless: boolean;
}

export const STRATEGIES: readonly StrategyInfo[] = [
  { id: 'auto', label: 'Auto', description: 'Picks the fastest lossless strategy per request from measured acceptance and cost.', lossless: true },
  { id: 'autoregressive', label: 'Autoregressive', description: 'One token per forward pass: the plain baseline.', lossless: true },
  { id: 'draft-model', label: 'Draft model', description: 'A small draft model proposes a chain; the target verifies it in one pass.', lossless: true },
  { id: 'token-tree', label: 'Token tree', description: 'The draft model proposes a tree of alternatives, verified in one pass with tree attention (SpecInfer).', lossless: true },
  { id: 'prompt-lookup', label: 'Prompt lookup', description: 'Copies continuations of n-grams already in the file; free to draft.', lossless: true },
  { id: 'retrieval', label: 'Workspace retrieval', description: 'Drafts continuations found in open workspace files with a suffix-array index (REST).', lossless: true },
  { id: 'early-exit', label: 'Early exit (CALM)', description: 'Each token leaves the target at the first layer confident enough (CALM); faster, may differ from the full model.', lossless: false },
  { id: 'self-speculation', label: 'Self-speculation (LayerSkip)', description: 'The target\'s first layers draft, its remaining layers verify in one pass, reusing the drafting\'s KV (LayerSkip).', lossless: true },
  { id: 'lookahead', label: 'Lookahead (Jacobi)', description: 'Jacobi iterations guess future tokens into an n-gram pool; pool n-grams are verified in the same pass (Fu et al. 2024).', lossless: true },
  { id: 'mask-predict', label: 'Mask-Predict (CMLM)', description: 'A masked LM fills the span between prefix and suffix in a few refinement passes; fast, may differ from the target.', lossless: false },
];

export const isStrategy = (s: unknown): s is Strategy => typeof s === 'string' && (STRATEGY_IDS as readonly string[]).includes(s);

/**
 * Measured speed of each lossless strategy relative to autoregressive decoding on the bundled models
 * (bench/report/REPORT.md, 90 held-out prompts, 1 thread): auto's starting point. They rank untried
 * candidates and set how soon each is tried; one measured request replaces a strategy's prior.
 */
export const PRIOR_SPEEDUP: Partial<Record<Strategy, number>> = {
  'prompt-lookup': 1.54, lookahead: 1.34, autoregressive: 1, 'self-speculation': 1, 'draft-model': 0.9, retrieval: 0.85, 'token-tree': 0.84,
};

const prior = (s: Strategy): number => PRIOR_SPEEDUP[s] ?? 0.5;

export interface AutoOptions {
  /** Every this many requests, one goes to a candidate within `slowFactor` of the best estimate. */
  exploreEvery: number;
  /** Candidates estimated (measured, or by the priors) slower than this × the best are tried only every `exploreEvery × slowRounds` requests. */
  slowFactor: number;
  slowRounds: number;
  /** The strategy in use is kept until another is estimated faster by this fraction (one completion's speed is noisy). */
  hysteresis: number;
}

export const DEFAULT_AUTO: AutoOptions = { exploreEvery: 24, slowFactor: 1.4, slowRounds: 4, hysteresis: 0.15 };

/**
 * The auto strategy: a bandit over the lossless strategies that starts from measured priors. It
 * takes the candidate with the lowest estimated cost (measured, or from the priors relative to one
 * that was measured). Every `exploreEvery`th request goes elsewhere, to a candidate that could
 * plausibly win (estimated within `slowFactor` of the best): one never measured first (in prior
 * order), else the least recently tried. Clearly slower ones, measured or by the priors, are tried
 * only every `slowRounds` such rounds (every 96 requests). The strategy in use is kept until another
 * is estimated `hysteresis` faster. Exploration so costs under 1% when the priors hold, and a model
 * whose drafts pay off is still found (within about 300 requests when the priors put its draft model
 * far behind).
 *
 * Cost is decode milliseconds per unit of a per-context yardstick, `ref` in `record`: the engine
 * passes the steps prompt lookup would have needed for the same completion (`lookupSteps`, free to
 * compute). A completion's milliseconds per token depend on its context far more than on the
 * strategy (an easy context is 2× faster for every drafter), so comparing raw ms/token of strategies
 * measured on different contexts let a strategy last measured on an easy context look faster than
 * the one in use on harder ones: in `hasten bench --limit 30`, auto moved to lookahead near the end
 * of the line-start prompts and kept it for most of the mid-line ones (1.35× there against prompt
 * lookup's 1.84×). Per yardstick step, a context's difficulty cancels out. Without `ref`, tokens are
 * the yardstick (ms per token).
 */
export class AutoSelector {
  /** Decode ms per yardstick unit (ms per token without one). */
  private readonly cost = new Map<Strategy, number>();
  private readonly lastTried = new Map<Strategy, number>();
  private requests = 0;
  /** The strategy exploited so far. */
  private incumbent: Strategy | undefined;

  constructor(private readonly o: AutoOptions = DEFAULT_AUTO) {}

  choose(candidates: readonly Strategy[]): Strategy {
    this.requests++;
    const est = this.estimate(candidates);
    const ranked = [...candidates].sort((a, b) => est(a) - est(b));
    const held = this.incumbent !== undefined && candidates.includes(this.incumbent) ? this.incumbent : undefined;
    const best = held !== undefined && est(ranked[0]!) > (1 - this.o.hysteresis) * est(held) ? held : ranked[0]!;
    if (this.requests % this.o.exploreEvery !== 0) return (this.incumbent = best);
    // Only plausible winners are explored, except in slow rounds; a candidate never measured first (in prior order).
    // A candidate the priors put far behind is so first measured in a slow round, not in the first rounds, where
    // its exploration would cost a whole request at about half speed.
    const slowRound = this.requests % (this.o.exploreEvery * this.o.slowRounds) === 0;
    const plausible = (c: Strategy) => slowRound || est(c) <= this.o.slowFactor * est(best);
    const untried = ranked.find((c) => !this.lastTried.has(c) && plausible(c));
    if (untried) return untried;
    const others = ranked.filter((c) => c !== best && plausible(c));
    others.sort((a, b) => (this.lastTried.get(a) ?? 0) - (this.lastTried.get(b) ?? 0));
    return others[0] ?? best;
  }

  /** Cost for each candidate: measured, else scaled from a measured one by the priors, else by prior rank alone. */
  private estimate(candidates: readonly Strategy[]): (s: Strategy) => number {
    return (s) => this.cost.get(s) ?? this.fromPriors(s, candidates) ?? 1 / prior(s);
  }

  /** `s`'s cost scaled by the priors from a measured strategy other than `s`, if there is one. */
  private fromPriors(s: Strategy, among: Iterable<Strategy> = this.cost.keys()): number | undefined {
    for (const ref of among) {
      const ms = this.cost.get(ref);
      if (ref !== s && ms !== undefined) return (ms * prior(ref)) / prior(s);
    }
    return undefined;
  }

  /**
   * Records a finished completion's decode time (prefill excluded: it costs every strategy alike)
   * against `ref`, the context's yardstick (see the class comment; `tokens` when not given). One
   * completion's speed is noisy, so no single sample decides: the first keeps a quarter of what the
   * priors said, later ones move the estimate by at most a quarter; short completions count less.
   */
  record(strategy: Strategy, tokens: number, ms: number, ref: number = tokens): void {
    this.lastTried.set(strategy, this.requests);
    if (tokens < 2 || ref <= 0) return;
    const sample = ms / ref;
    const measured = this.cost.get(strategy);
    const prev = measured ?? this.fromPriors(strategy);
    const w = (measured === undefined ? 0.75 : 0.25) * Math.min(1, tokens / 16);
    this.cost.set(strategy, prev === undefined ? sample : prev * (1 - w) + sample * w);
  }

  estimates(): Record<string, number> {
    return Object.fromEntries(this.cost);
  }
}
