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
 * The auto strategy: an exploring bandit over the speculative strategies. Each candidate is tried
 * twice first; then the one with the lowest measured milliseconds per generated token wins, with
 * every eighth request spent on the least recently tried candidate so the estimates stay fresh.
 */
export class AutoSelector {
  private readonly msPerToken = new Map<Strategy, number>();
  private readonly tries = new Map<Strategy, number>();
  private readonly lastTried = new Map<Strategy, number>();
  private requests = 0;

  choose(candidates: readonly Strategy[]): Strategy {
    this.requests++;
    const untried = candidates.find((c) => (this.tries.get(c) ?? 0) < 2);
    if (untried) return untried;
    if (this.requests % 8 === 0) return [...candidates].sort((a, b) => (this.lastTried.get(a) ?? 0) - (this.lastTried.get(b) ?? 0))[0]!;
    return [...candidates].sort((a, b) => (this.msPerToken.get(a) ?? Infinity) - (this.msPerToken.get(b) ?? Infinity))[0]!;
  }

  /** Records a finished completion; short ones say little about speed and count with less weight. */
  record(strategy: Strategy, tokens: number, ms: number): void {
    this.tries.set(strategy, (this.tries.get(strategy) ?? 0) + 1);
    this.lastTried.set(strategy, this.requests);
    if (tokens < 2) return;
    const sample = ms / tokens;
    const prev = this.msPerToken.get(strategy);
    const w = Math.min(0.5, tokens / 64);
    this.msPerToken.set(strategy, prev === undefined ? sample : prev * (1 - w) + sample * w);
  }

  estimates(): Record<string, number> {
    return Object.fromEntries(this.msPerToken);
  }
}
