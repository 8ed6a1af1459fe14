// The decoding strategies Hasten offers, and the auto strategy's choice among them.

export const STRATEGY_IDS = ['auto', 'autoregressive', 'draft-model', 'token-tree', 'prompt-lookup', 'lookup-draft', 'retrieval', 'early-exit', 'self-speculation', 'lookahead', 'mask-predict'] as const;
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
  { id: 'lookup-draft', label: 'Lookup + draft model', description: 'Each step copies a continuation from the file where its last 4 tokens occurred before, and asks the draft model elsewhere.', lossless: true },
  { id: 'retrieval', label: 'Workspace retrieval', description: 'Drafts continuations found in open workspace files with a suffix-array index (REST).', lossless: true },
  { id: 'early-exit', label: 'Early exit (CALM)', description: 'Each token leaves the target at the first layer confident enough (CALM); faster, may differ from the full model.', lossless: false },
  { id: 'self-speculation', label: 'Self-speculation (LayerSkip)', description: 'The target\'s first layers draft, its remaining layers verify in one pass, reusing the drafting\'s KV (LayerSkip).', lossless: true },
  { id: 'lookahead', label: 'Lookahead (Jacobi)', description: 'Jacobi iterations guess future tokens into an n-gram pool; pool n-grams are verified in the same pass (Fu et al. 2024).', lossless: true },
  { id: 'mask-predict', label: 'Mask-Predict (CMLM)', description: 'A masked LM fills the span between prefix and suffix in a few refinement passes; fast, may differ from the target.', lossless: false },
];

export const isStrategy = (s: unknown): s is Strategy => typeof s === 'string' && (STRATEGY_IDS as readonly string[]).includes(s);

/**
 * Measured speed of each lossless strategy relative to autoregressive decoding on the bundled models
 * (`hasten bench --prompts tuning --strategies prompt-lookup,lookup-draft,draft-model,token-tree,lookahead,retrieval,self-speculation
 * --limit 30 --threads 1 --json bench/report/auto-priors.json`: the 90 tuning prompts, cut from code neither trained on
 * nor held out, so the benchmark's held-out prompts are not tuned against; tokens over decode time of all of them, side
 * by side in one run): auto's starting point. They rank untried candidates and set how soon each is tried; one
 * measured request replaces a strategy's prior.
 */
export const PRIOR_SPEEDUP: Partial<Record<Strategy, number>> = {
  'lookup-draft': 1.58, 'prompt-lookup': 1.51, 'draft-model': 1.5, 'token-tree': 1.16, lookahead: 1.13, retrieval: 1, autoregressive: 1, 'self-speculation': 0.71,
};

const prior = (s: Strategy): number => PRIOR_SPEEDUP[s] ?? 0.5;

/** Samples per strategy whose median is its measured cost. */
const SAMPLES = 15;
/** Samples of two strategies taken this many requests apart or fewer are compared as a pair. */
const PAIR_GAP = 1;
/** Samples kept per strategy to pair with others' (an explored strategy's are far apart). */
const HISTORY = 256;
/** Paired ratios needed before they decide (a median of fewer is too noisy). */
const MIN_PAIRS = 5;

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

export interface AutoOptions {
  /** At most one request in this many explores, and a candidate is measured again at most this often. */
  exploreEvery: number;
  /** Candidates estimated (measured, or by the priors) slower than this × the best wait `slowRounds` times longer to be measured. */
  slowFactor: number;
  slowRounds: number;
  /** The strategy in use is kept until another is estimated faster by this fraction (one completion's speed is noisy). */
  hysteresis: number;
  /** The longest wait, in requests, before a candidate is measured again: each measurement that leaves it behind doubles its wait up to this. */
  maxWait: number;
}

export const DEFAULT_AUTO: AutoOptions = { exploreEvery: 24, slowFactor: 1.4, slowRounds: 4, hysteresis: 0.15, maxWait: 384 };

/**
 * The auto strategy: a bandit over the lossless strategies that starts from measured priors. It
 * starts on the priors' best and keeps the strategy in use until another is shown `hysteresis`
 * faster (`displaces`: by the median ratio of samples of the two taken next to each other, so the
 * machine's load cancels out, or, with fewer such pairs, by estimates twice that margin apart);
 * estimates are measured, or scaled by the priors from a measured strategy.
 *
 * Exploration is paid for by the user (an explored request runs a strategy auto thinks slower), so
 * it is rationed: a candidate is measured again only when its last measurement, by auto or by a
 * request that named the strategy, is older than its wait, and at most one request in
 * `exploreEvery` explores (the most overdue candidate, by its wait's multiple, so that none starves).
 * The wait starts at `exploreEvery` requests for a plausible winner (estimated within `slowFactor` of
 * the best) and at `exploreEvery × slowRounds` for one the priors or measurements put far behind;
 * each measurement slower than the one in use doubles a candidate's wait, up to `maxWait`. A
 * candidate whose latest sample was faster than the one in use is measured again after a quarter of
 * `exploreEvery`, between rounds (in expectation that costs nothing), whatever its estimate says (the
 * first samples move an estimate that started from the priors only part of the way), so it soon has
 * the paired samples that decide: before, a candidate faster by a little more than the hysteresis
 * had its wait doubled by every sample that noise put under the margin, and priors that ranked the
 * token tree a hair above a draft model 17% faster kept auto on the token tree.
 * Simulated with the priors holding (test/unit/auto.test.ts), 19 of the first 1,000 requests
 * explore, costing 1.2% of prompt lookup's time (the slowest candidates run at half its speed);
 * a draft model that pays off though the priors put it far behind is first measured at request 144
 * and used from request 150; and candidates measured by requests that named them (the benchmark runs
 * every strategy on every prompt) are not explored at all.
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
  /** Each strategy's latest samples (ms per yardstick unit) and the request count they were taken at, at most HISTORY. */
  private readonly samples = new Map<Strategy, { at: number; ms: number }[]>();
  /** The request count at each strategy's latest measurement. */
  private readonly lastTried = new Map<Strategy, number>();
  /** Measurements in a row that left each strategy behind the one in use: its wait doubles with each. */
  private readonly behind = new Map<Strategy, number>();
  private requests = 0;
  private lastExplored = 0;
  /** The strategy exploited so far. */
  private incumbent: Strategy | undefined;

  constructor(private readonly o: AutoOptions = DEFAULT_AUTO) {}

  choose(candidates: readonly Strategy[]): Strategy {
    this.requests++;
    const est = this.estimate(candidates);
    const ranked = [...candidates].sort((a, b) => est(a) - est(b));
    // Without a strategy in use, the priors' best is the one to displace: a first noisy sample of another is not enough.
    const held = this.incumbent !== undefined && candidates.includes(this.incumbent) ? this.incumbent : [...candidates].sort((a, b) => prior(b) - prior(a))[0]!;
    const best = ranked.find((c) => c === held || this.displaces(c, held, est))!;
    this.incumbent = best;
    const due = ranked.filter((c) => c !== best && this.requests - (this.lastTried.get(c) ?? 0) >= this.wait(est(c), est(best), c));
    // A candidate whose latest sample beat the one in use is measured again between rounds (in expectation it costs
    // nothing), so that it gathers the paired samples that decide soon; it never takes a round from the others.
    const again = due.find((c) => this.beat(c, est(best)));
    if (this.requests - this.lastExplored < this.o.exploreEvery) return again ?? best;
    // A round: the most overdue of the others (by its wait's multiple), the most promising among equals.
    const overdue = (c: Strategy) => (this.requests - (this.lastTried.get(c) ?? 0)) / this.wait(est(c), est(best), c);
    const rest = due.filter((c) => !this.beat(c, est(best)));
    const pick = rest.reduce<Strategy | undefined>((a, c) => (a === undefined || overdue(c) > overdue(a) ? c : a), undefined);
    if (pick === undefined) return again ?? best;
    this.lastExplored = this.requests;
    return pick;
  }

  /** Requests to wait before measuring `s` again, given its estimated cost and the best's. */
  private wait(cost: number, bestCost: number, s: Strategy): number {
    // A candidate whose latest sample beat the best is looked at again soon, whatever its estimate says (the first
    // samples move an estimate that started from the priors only part of the way): it needs MIN_PAIRS samples
    // next to the one in use to displace it, and each costs nothing if it is faster.
    if (this.beat(s, bestCost)) return this.o.exploreEvery / 4;
    const base = cost <= this.o.slowFactor * bestCost ? this.o.exploreEvery : this.o.exploreEvery * this.o.slowRounds;
    return Math.min(this.o.maxWait, base * 2 ** (this.behind.get(s) ?? 0));
  }

  /** Whether `s`'s latest sample was faster than `bestCost`. */
  private beat(s: Strategy, bestCost: number): boolean {
    const last = this.samples.get(s)?.at(-1)?.ms;
    return last !== undefined && last < bestCost;
  }

  /**
   * Whether `s` is faster than `held` by the hysteresis. Where `s`'s latest SAMPLES include MIN_PAIRS
   * taken next to one of `held`'s (within PAIR_GAP requests: the same load on the machine), by the median
   * of those paired ratios, which a burst of load cancels out of; else by the ratio of their estimates,
   * with twice the margin.
   */
  private displaces(s: Strategy, held: Strategy, est: (s: Strategy) => number): boolean {
    const near = this.samples.get(held) ?? [];
    const ratios: number[] = [];
    for (const x of (this.samples.get(s) ?? []).slice(-SAMPLES)) {
      const ref = near.filter((y) => Math.abs(y.at - x.at) <= PAIR_GAP).map((y) => y.ms);
      if (ref.length > 0) ratios.push(x.ms / median(ref));
    }
    if (ratios.length >= MIN_PAIRS) return median(ratios) < 1 - this.o.hysteresis;
    // Fewer than three pairs: one or two completions' speed is noise enough that only a large margin counts.
    return est(s) < (1 - 2 * this.o.hysteresis) * est(held);
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
   * completion's speed is noisy (the same steps on the same prompt take from half to twice as long
   * from one run to the next on a busy machine), so no single sample decides: the first keeps a
   * quarter of what the priors said, the next move the estimate by at most a quarter (short
   * completions count less), and from the third on the estimate is the median of the latest
   * SAMPLES, which a few slow or fast outliers do not move. Whether another strategy displaces the
   * one in use is decided on samples taken next to each other (`displaces`). Simulated as in the
   * benchmark (test/unit/auto.test.ts), auto now leaves the fastest strategy on 0.6% of requests on
   * a quiet machine and 5.3% on a busy one, against 11.6% and 24.7% with a moving average and a
   * first choice made on one sample of each.
   */
  record(strategy: Strategy, tokens: number, ms: number, ref: number = tokens): void {
    this.lastTried.set(strategy, this.requests);
    if (tokens < 2 || ref <= 0) return;
    const sample = ms / ref;
    const measured = this.cost.get(strategy);
    const prev = measured ?? this.fromPriors(strategy);
    const list = this.samples.get(strategy) ?? [];
    list.push({ at: this.requests, ms: sample });
    if (list.length > HISTORY) list.shift();
    this.samples.set(strategy, list);
    const w = (measured === undefined ? 0.75 : 0.25) * Math.min(1, tokens / 16);
    this.cost.set(strategy, list.length >= 3 ? median(list.slice(-SAMPLES).map((x) => x.ms)) : prev === undefined ? sample : prev * (1 - w) + sample * w);
    const held = this.incumbent === undefined ? undefined : this.cost.get(this.incumbent);
    if (strategy === this.incumbent || held === undefined) return;
    // The sample, not the smoothed estimate: one fast measurement is not enough to move to it, but enough to look again soon.
    // Only a sample slower than the one in use leaves a candidate behind: one faster by less than the hysteresis
    // (or by more, with noise) must be measured again at the base wait, or it never gathers the pairs that decide.
    this.behind.set(strategy, sample < held ? 0 : (this.behind.get(strategy) ?? 0) + 1);
  }

  estimates(): Record<string, number> {
    return Object.fromEntries(this.cost);
  }
}
