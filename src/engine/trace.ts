// The step records that the visualiser and the benchmark both consume. One vocabulary throughout:
// a draft node is accepted or rejected; after the accepted path the target adds one token, the
// bonus (every draft node on the path was accepted, or there was no draft) or the recovered token
// (drawn after a rejection); early-exit decoders record each token's exit layer.

export type NodeStatus = 'accepted' | 'rejected';

/** One draft node of a verification step. */
export interface TraceNode {
  token: number;
  text: string;
  /** Index of the parent node in the same step; -1 = the last committed token. */
  parent: number;
  /** Probability the drafter gave this token (null for drafters without probabilities). */
  draftProb: number | null;
  /** Probability under the target at its parent; null when not verified. */
  targetProb: number | null;
  status: NodeStatus;
  /** Layer this token's prediction exited at (early exit), 1-based. */
  exitLayer?: number;
}

export interface TraceBonus {
  token: number;
  text: string;
  prob: number;
  kind: 'bonus' | 'recovered';
  exitLayer?: number;
}

/** One draft-verify-accept step. */
export interface StepTrace {
  step: number;
  /** Which drafter proposed the nodes ('none' for plain decoding steps). */
  drafter: string;
  nodes: TraceNode[];
  bonus: TraceBonus | null;
  /** Tokens this step added to the output: accepted nodes plus the bonus. */
  emitted: number;
  draftMs: number;
  verifyMs: number;
  totalMs: number;
  /** Mask-Predict: positions re-masked in this iteration, with their confidences. */
  remasked?: { position: number; confidence: number }[];
}

/** Summary of one completion, plus its steps. */
export interface CompletionTrace {
  id: number;
  strategy: string;
  model: string;
  drafter: string;
  promptTokens: number;
  /** Prompt tokens reused from the previous request's KV cache. */
  reusedTokens: number;
  tokens: number;
  /** The completion's token ids. */
  output: number[];
  prefillMs: number;
  decodeMs: number;
  steps: StepTrace[];
  stopReason: 'eos' | 'length' | 'stop' | 'context' | 'aborted';
  /** Bytes copied device -> host while this completion ran (prefill included; every model of the engine); absent when nothing ran on a device. */
  deviceReadBytes?: number;
}

export interface TraceSummary {
  steps: number;
  drafted: number;
  accepted: number;
  acceptanceRate: number;
  meanAcceptedPerStep: number;
  tokensPerStep: number;
  tokensPerSecond: number;
}

/** Acceptance and throughput figures derived from a trace. */
export function summarise(t: CompletionTrace): TraceSummary {
  const drafted = t.steps.reduce((s, x) => s + x.nodes.length, 0);
  const accepted = t.steps.reduce((s, x) => s + x.nodes.filter((n) => n.status === 'accepted').length, 0);
  const n = Math.max(1, t.steps.length);
  return {
    steps: t.steps.length,
    drafted,
    accepted,
    acceptanceRate: drafted === 0 ? 0 : accepted / drafted,
    meanAcceptedPerStep: accepted / n,
    tokensPerStep: t.tokens / n,
    tokensPerSecond: t.decodeMs > 0 ? (t.tokens * 1000) / t.decodeMs : 0,
  };
}
