// CALM-style early exit (Schuster et al. 2022), lossy and tunable: run the target one layer at a
// time; after each layer from `minExitLayer` on, measure the confidence of exiting there and stop
// when it reaches `threshold`. The exit's prediction comes through the shared final norm and LM
// head. The layers a token skipped still owe later tokens its K/V; `skippedKv` says how they get it
// (CALM's state propagation by default, see model/layered.ts).
import { HastenError, throwIfAborted } from '../errors';
import type { ExitClassifier } from '../model/exitClassifier';
import { Hidden, LayeredModel, SkippedKv } from '../model/layered';
import { choose, chooseAt } from '../sampling';
import { CompletionTrace, StepTrace } from '../trace';
import { decodeLoop, DecodeChunk, DecodeRequest, firstRow, opening, Output, Prefilled } from './common';
import { confidence, ConfidenceMeasure, needsLogits } from './confidence';

export interface EarlyExitOptions {
  measure: ConfidenceMeasure;
  /** Exit when the confidence reaches it, in [0, 1]; 1 never exits early (full depth, no confidence computed). */
  threshold: number;
  /** First layer (1-based) allowed to exit, in 1..L. */
  minExitLayer: number;
  skippedKv: SkippedKv;
  /** The model's learned exit classifier: required by measure 'classifier'. */
  classifier?: ExitClassifier;
}

/** One token's pass through the layers. */
export interface ExitResult {
  /** Logits of the exit: [vocab]. */
  row: Float32Array;
  /** 1-based layer whose hidden state gave the prediction (L = full depth). */
  exitLayer: number;
  slot: number;
}

/**
 * Runs the prompt through every layer (the prompt never exits early), reusing the KV of the
 * longest common prefix. Returns the logits after the last prompt token.
 */
export async function prefillLayered(model: LayeredModel, prompt: readonly number[], signal?: AbortSignal, heal?: string): Promise<Prefilled> {
  if (prompt.length === 0) throw new HastenError('bad-request', 'The prompt is empty.', 'Decoding needs at least one prompt token.');
  const t0 = performance.now();
  const reused = model.retain(prompt.slice(0, -1));
  const feed = prompt.slice(reused);
  const slots = model.allocate(feed.length);
  const h = await model.run(0, model.numLayers, slots, await model.embed(feed));
  model.commit(feed, slots);
  throwIfAborted(signal);
  const first = firstRow((await model.logits(h, [feed.length - 1])).row(0).slice(), model.folder.tokenizer, heal);
  return { first, reused, ms: performance.now() - t0 };
}

/** Runs `token` up the layers until an exit is confident enough; fills the skipped layers' K/V. */
export async function exitPass(model: LayeredModel, token: number, o: EarlyExitOptions, signal?: AbortSignal): Promise<ExitResult> {
  const L = model.numLayers;
  const [slot] = model.allocate(1) as [number];
  let h: Hidden = await model.embed([token]);
  for (let l = 0; l < L; l++) {
    throwIfAborted(signal);
    const previous = h;
    h = await model.layer(l, [slot], h);
    const n = l + 1;
    if (o.threshold >= 1 || n < o.minExitLayer || n === L) continue;
    const logits = needsLogits(o.measure) ? (await model.logits(h)).row(0) : null;
    if (confidence(o.measure, logits, h.row(0), previous.row(0), n, o.classifier) >= o.threshold) {
      const row = logits ?? (await model.logits(h)).row(0);
      await model.skip(slot, h.row(0), n, o.skippedKv);
      return { row, exitLayer: n, slot };
    }
  }
  return { row: (await model.logits(h)).row(0), exitLayer: L, slot };
}

/**
 * The token after prefill, as a step of its own: every emitted token records its exit layer, and
 * this one always went through all `layers` (its time is in the trace's prefillMs).
 */
export function firstChunk(trace: CompletionTrace, out: Output, token: number, prob: number, layers: number, text: string): DecodeChunk {
  const { ids, delta } = out.push([token]);
  const step: StepTrace = {
    step: trace.steps.length, drafter: 'none', nodes: [], emitted: ids.length, draftMs: 0, verifyMs: 0, totalMs: 0,
    bonus: { token, text, prob, kind: 'bonus', exitLayer: layers },
  };
  trace.steps.push(step);
  return { ids, delta, step };
}

/** CALM decoding: one token per step, each exiting at the first confident layer. */
export async function* earlyExit(model: LayeredModel, req: DecodeRequest, o: EarlyExitOptions, strategy = 'early-exit'): AsyncGenerator<DecodeChunk, CompletionTrace> {
  const { tk, trace, out, rand, first: row0 } = await opening(model, req, strategy, 'none', () => prefillLayered(model, req.prompt, req.signal, req.heal));
  const c0 = chooseAt(row0, 0, req.sampling, rand);
  let pending = c0.token;
  const first = firstChunk(trace, out, pending, c0.prob, model.numLayers, tk.tokenText(pending));
  return yield* decodeLoop(trace, out, first, () => Output.room(model), async () => {
    const s0 = performance.now();
    const r = await exitPass(model, pending, o, req.signal);
    model.commit([pending], [r.slot]);
    const next = choose(r.row, req.sampling, rand);
    pending = next.token;
    const ms = performance.now() - s0;
    return {
      newIds: [pending],
      trace: (emitted, step) => ({
        step, drafter: 'none', nodes: [], emitted, draftMs: 0, verifyMs: ms, totalMs: ms,
        bonus: { token: next.token, text: tk.tokenText(next.token), prob: next.prob, kind: 'bonus' as const, exitLayer: r.exitLayer },
      }),
    };
  });
}
