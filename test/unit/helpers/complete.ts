// The final trace of one completion: what most engine tests compare (tokens, steps, exit layers).
import type { CompletionRequest, CompletionTrace, Engine } from '../../../src/engine';

/** Runs `request` to the end and returns its trace (after `engine.reset()` when `reset`, so each run pays the same prefill). */
export async function finalTrace(engine: Engine, request: CompletionRequest, reset = false): Promise<CompletionTrace> {
  if (reset) await engine.reset();
  let trace: CompletionTrace | undefined;
  for await (const u of engine.complete(request)) if (u.done) trace = u.trace;
  if (!trace) throw new Error('the completion ended without a final update');
  return trace;
}
