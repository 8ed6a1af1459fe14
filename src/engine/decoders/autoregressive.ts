// Plain decoding, one token per forward pass: the baseline every speed-up is measured against.
import { HastenError } from '../errors';
import { CausalModel } from '../model/causal';
import { choose, seededRandom } from '../sampling';
import { CompletionTrace } from '../trace';
import { DecodeChunk, DecodeRequest, newTrace, Output, prefill } from './common';

export async function* autoregressive(model: CausalModel, req: DecodeRequest, strategy = 'autoregressive'): AsyncGenerator<DecodeChunk, CompletionTrace> {
  if (req.prompt.length === 0) throw new HastenError('bad-request', 'The prompt is empty.', 'Decoding needs at least one prompt token.');
  const tk = model.folder.tokenizer;
  const trace = newTrace(strategy, model, 'none', req.prompt.length);
  const out = new Output(tk, req);
  const rand = seededRandom(req.sampling.seed);
  const pre = await prefill(model, req.prompt, req.signal, req.heal);
  trace.reusedTokens = pre.reused;
  trace.prefillMs = pre.ms;
  const t0 = performance.now();
  let pending = choose(pre.row, req.sampling, rand).token;
  const first = out.push([pending]);
  yield { ids: first.ids, delta: first.delta };
  while (!out.done) {
    if (Output.room(model) < 0) {
      out.reason = 'context';
      break;
    }
    const s0 = performance.now();
    const logits = await model.forward([pending], null, req.signal);
    model.commit([0]);
    const next = choose(logits.row(0), req.sampling, rand);
    pending = next.token;
    const ms = performance.now() - s0;
    const { ids, delta } = out.push([pending]);
    const step = {
      step: trace.steps.length, drafter: 'none', nodes: [], emitted: ids.length, draftMs: 0, verifyMs: ms, totalMs: ms,
      bonus: { token: pending, text: tk.tokenText(pending), prob: next.prob, kind: 'bonus' as const },
    };
    trace.steps.push(step);
    yield { ids, delta, step };
  }
  trace.tokens = out.ids.length;
  trace.output = out.ids;
  trace.decodeMs = performance.now() - t0;
  trace.stopReason = out.reason ?? 'length';
  return trace;
}
