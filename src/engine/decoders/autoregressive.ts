// Plain decoding, one token per forward pass: the baseline every speed-up is measured against.
import { HastenError } from '../errors';
import { CausalModel } from '../model/causal';
import { chooseAt, isGreedy } from '../sampling';
import { CompletionTrace } from '../trace';
import { decodeLoop, DecodeChunk, DecodeRequest, opening, Output, plainFirst, prefill } from './common';

export async function* autoregressive(model: CausalModel, req: DecodeRequest, strategy = 'autoregressive'): AsyncGenerator<DecodeChunk, CompletionTrace> {
  if (req.prompt.length === 0) throw new HastenError('bad-request', 'The prompt is empty.', 'Decoding needs at least one prompt token.');
  const { tk, trace, out, rand, first } = await opening(model, req, strategy, 'none', () => prefill(model, req.prompt, req.signal, req.heal, req.sampling));
  let pending = chooseAt(first, 0, req.sampling, rand).token;
  const read = isGreedy(req.sampling) ? 'argmax' : 'rows';
  return yield* decodeLoop(trace, out, plainFirst(out, pending), () => Output.room(model), async () => {
    const s0 = performance.now();
    const logits = await model.forward([pending], null, req.signal, { read });
    model.commit([0]);
    const next = chooseAt(logits, 0, req.sampling, rand);
    pending = next.token;
    const ms = performance.now() - s0;
    return {
      newIds: [pending],
      trace: (emitted, step) => ({
        step, drafter: 'none', nodes: [], emitted, draftMs: 0, verifyMs: ms, totalMs: ms,
        bonus: { token: next.token, text: tk.tokenText(next.token), prob: next.prob, kind: 'bonus' as const },
      }),
    };
  });
}
