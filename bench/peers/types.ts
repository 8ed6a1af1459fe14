// What the report needs from a peer system (transformers.js, llama.cpp): greedy continuations of
// the exact prompt token ids our engine builds, timed the same way as our traces.
//
// Timing convention (identical to CompletionTrace): `prefillMs` runs from the call until the
// first generated token is known; `decodeMs` runs from then until the last token is known.
// `tokens` counts every generated token, the first included, so tokens / decodeMs is comparable
// with our decode tokens per second. Generation stops after `maxNewTokens` tokens or at an
// end-of-text id (`stopIds`), which is not included in `output`.

export interface PeerRun {
  output: number[];
  tokens: number;
  prefillMs: number;
  decodeMs: number;
  /** Speculative peers: verification steps, drafted and accepted tokens, as the peer reports them. */
  steps?: number;
  drafted?: number;
  accepted?: number;
  /** Set when this run failed; the other fields are then zero. */
  error?: string;
}

export interface PeerSystem {
  /** Short stable id used in tables and JSON, e.g. `llama.cpp/plain`. */
  readonly id: string;
  /** One line for the report: version, weights format, threads and other settings. */
  readonly description: string;
  readonly settings: Readonly<Record<string, string | number | boolean>>;
  generate(prompt: readonly number[], maxNewTokens: number, stopIds: readonly number[]): Promise<PeerRun>;
  dispose(): Promise<void>;
}

/** Opening a peer either gives its systems or says, in one actionable message, why not. */
export type PeerOpenResult = { ok: true; systems: PeerSystem[] } | { ok: false; message: string };
