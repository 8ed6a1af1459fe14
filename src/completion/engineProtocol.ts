// Messages between the extension host and the engine process. ONNX Runtime's node binding runs each
// inference synchronously on the calling thread (a prefill blocks for tens of milliseconds), and a
// native crash or an out-of-memory in it would take the whole extension host down, so the engine
// lives in a child process and speaks this protocol over IPC (structured clone: `serialization: 'advanced'`).
import type { CompletionRequest, CompletionTrace, EngineOptions, Strategy } from '../engine';
import type { CursorContext } from './policy';

/** A completion request without its functions: the stop rule travels as the cursor context. */
export type WireRequest = Omit<CompletionRequest, 'signal' | 'stopText'> & { stopContext?: CursorContext };

export type ToEngine =
  | { type: 'load'; options: Omit<EngineOptions, 'log'> }
  | { type: 'complete'; id: number; req: WireRequest }
  | { type: 'abort'; id: number }
  /** A big document's text arrives as parts (each a turn of the host's event loop), then the update with the last. */
  | { type: 'retrieval-part'; id: number; text: string }
  | { type: 'retrieval-update'; id: number; doc: string; text: string }
  | { type: 'retrieval-abort'; id: number }
  | { type: 'retrieval-remove'; doc: string }
  | { type: 'reset'; id: number }
  | { type: 'memory'; id: number }
  | { type: 'dispose'; id: number };

/** What a streamed update adds to the caller's copy of the live trace. */
export interface TraceProgress {
  head: Omit<CompletionTrace, 'steps' | 'output'>;
  steps: CompletionTrace['steps'];
  output: number[];
}

export interface EngineInfo {
  model: string;
  provider: string;
  /** Why it runs there (auto's choice or the setting). */
  providerReason?: string;
  draft: string | null;
  available: Strategy[];
  /** Tokens of context the target runs at. */
  context: number;
}

export interface WireError {
  name: string;
  message: string;
  code?: string;
  fix?: string;
}

/** The engine process's memory in bytes. */
export interface EngineMemory {
  rss: number;
  heapUsed: number;
  external: number;
}

export type FromEngine =
  | { type: 'log'; level: 'info' | 'warn' | 'error'; message: string }
  | { type: 'loaded'; info: EngineInfo }
  /** The target's provider changed after load (a device failed mid-decode): the status bar shows it. */
  | { type: 'provider'; provider: string; providerReason: string }
  | { type: 'load-failed'; error: WireError }
  /**
   * The whole trace comes with the last update only (cloning it at every step would grow with the
   * completion); earlier updates carry `progress`: the trace's scalars and the steps and output
   * tokens added since the previous update, so the visualiser's live view follows step by step.
   */
  | { type: 'update'; id: number; text: string; delta: string; done: boolean; trace?: CompletionTrace; progress?: TraceProgress }
  /** `engineMs`: from the request's arrival to this message, in the engine process (the rest of the caller's wait is IPC). */
  | { type: 'end'; id: number; error?: WireError; engineMs?: number }
  | { type: 'done'; id: number; error?: WireError }
  | ({ type: 'memory'; id: number } & EngineMemory);

export function toWire(err: unknown): WireError {
  if (err instanceof Error) {
    const e = err as Error & { code?: string; fix?: string };
    return { name: e.name, message: e.message, ...(e.code ? { code: e.code } : {}), ...(e.fix ? { fix: e.fix } : {}) };
  }
  return { name: 'Error', message: String(err) };
}
