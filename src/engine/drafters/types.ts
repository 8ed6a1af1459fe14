// The one interface every drafter implements (draft model, prompt lookup, retrieval, early-exit
// layers). A drafter proposes; it never verifies. Verification, acceptance and KV rollback of the
// target live in verify/ and model/.
import { SamplingOptions } from '../sampling';
import { DraftTree } from '../verify/tree';

export interface DraftRequest {
  /** Every committed token, prompt included; the last one has not been run through the target yet. */
  history: readonly number[];
  /** Most nodes the tree may have. */
  maxNodes: number;
  /** Deepest the tree may go (the target's context may limit it). */
  maxDepth: number;
  sampling: SamplingOptions;
  rand: () => number;
  signal?: AbortSignal;
}

/** What happened to the last draft, for adapting and for keeping a drafter's own state in sync. */
export interface DraftOutcome {
  tree: DraftTree;
  /** Accepted nodes, root first. */
  accepted: readonly number[];
  /** History after this step (accepted tokens and the bonus appended). */
  history: readonly number[];
}

export interface DrafterStats {
  drafts: number;
  drafted: number;
  accepted: number;
  draftMs: number;
}

export interface Drafter {
  readonly name: string;
  /** A drafter made of others (lookup-draft): which of them drafted the last draft, for that step's trace. Default `name`. */
  readonly stepDrafter?: string;
  readonly stats: DrafterStats;
  /** Called at the start of each completion with the prompt. */
  begin(prompt: readonly number[], signal?: AbortSignal): Promise<void>;
  /** Proposes a tree continuing `history`; an empty tree is allowed (the step becomes plain decoding). */
  draft(req: DraftRequest): Promise<DraftTree>;
  /** Feedback after verification. */
  update(outcome: DraftOutcome): void;
  dispose(): Promise<void>;
}

export const newStats = (): DrafterStats => ({ drafts: 0, drafted: 0, accepted: 0, draftMs: 0 });

/**
 * Model drafters (a draft model, LayerSkip's early layers) end a chain after a token they give less
 * than this probability: each drafted token costs a run, and an unsure one is seldom followed by
 * accepted ones. Hugging Face transformers' `assistant_confidence_threshold` default, taken as is.
 */
export const DRAFT_MIN_CONFIDENCE = 0.4;

/**
 * Adaptive draft length (the heuristic of HF transformers' assisted generation): +2 after a
 * step whose every drafted token was accepted, -1 otherwise, within [min, max].
 */
export class DraftLength {
  constructor(public current: number, readonly min = 1, readonly max = 16) {
    this.current = Math.min(max, Math.max(min, current));
  }

  update(drafted: number, accepted: number): void {
    if (drafted === 0) return;
    this.current = accepted === drafted ? Math.min(this.max, this.current + 2) : Math.max(this.min, this.current - 1);
  }
}

/** Shared bookkeeping: count drafts and acceptances, adapt the length. */
export function recordOutcome(stats: DrafterStats, length: DraftLength | null, outcome: DraftOutcome): void {
  stats.accepted += outcome.accepted.length;
  // Along a chain, "drafted" for adaptation is the depth that was on offer.
  const depth = outcome.tree.tokens.length === 0 ? 0 : depthOfTree(outcome.tree.parents);
  length?.update(depth, outcome.accepted.length);
}

function depthOfTree(parents: readonly number[]): number {
  const d: number[] = [];
  for (const p of parents) d.push(p < 0 ? 1 : d[p]! + 1);
  return Math.max(0, ...d);
}
