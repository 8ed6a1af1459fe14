// Mask-Predict (Ghazvininejad et al. 2019): fill the span between prefix and suffix with the CMLM
// in a constant number of passes. Predict the span length; for each of the top-l lengths start
// from an all-mask span; iteration 0 predicts every position, and iteration t re-masks the
// n = L·(T−t)/T least confident tokens and predicts them again. The l candidates run as one
// batch; the hypothesis with the best mean log-probability wins. Lossy: the CMLM is not the target.
import { HastenError, throwIfAborted } from '../errors';
import { CmlmLayout, CmlmModel } from '../model/cmlm';
import { expSum } from '../sampling';
import { CompletionTrace, StepTrace } from '../trace';
import { DecodeChunk, DecodeRequest, Output } from './common';

export interface MaskPredictOptions {
  /** T: refinement passes, iteration 0 included (>= 1). */
  iterations: number;
  /** l: candidate lengths decoded side by side in one batch (>= 1). */
  lengthCandidates: number;
  /** Force these span lengths instead of asking the length head (tests, oracle-length experiments). */
  lengths?: readonly number[];
  /** How the candidates share a pass (default 'packed': the context once, see model/cmlm.ts). */
  layout?: CmlmLayout;
}

/** One candidate span being refined. */
export interface Hypothesis {
  tokens: number[]; // [L]
  /** Probability the CMLM gave each token when it was last predicted, [L]. */
  confidence: number[];
  /** Mean log-probability of the tokens: the score candidates are ranked by. */
  score: number;
}

/** One refinement pass over every candidate. */
export interface Iteration {
  iteration: number;
  hypotheses: Hypothesis[];
  /** Per candidate, the positions masked before this pass with the confidence they had (0 at iteration 0). */
  remasked: { position: number; confidence: number }[][];
  ms: number;
}

/** How many tokens iteration t (0-based) of T re-masks in a span of L: the linear decay of the paper. */
export function remaskCount(L: number, T: number, t: number): number {
  return t === 0 ? L : Math.floor((L * (T - t)) / T);
}

/**
 * The top-`k` span lengths by the length head, longest allowed `maxLength`. Length 0 means
 * "insert nothing": it is returned alone when the head ranks it first, and dropped otherwise.
 */
export function topLengths(lengthLogits: Float32Array, k: number, maxLength: number): number[] {
  // lengthLogits: [maxSpan + 1]
  const order = Array.from(lengthLogits.subarray(0, Math.max(1, maxLength + 1)).keys()).sort((a, b) => lengthLogits[b]! - lengthLogits[a]! || a - b);
  if (order[0] === 0) return [0];
  return order.filter((l) => l > 0).slice(0, k);
}

/** Argmax of a logits row outside `banned`, and its softmax probability. */
export function predictToken(row: Float32Array, banned: readonly number[]): { token: number; prob: number } {
  // row: [vocab]
  let max = -Infinity;
  let best = -1;
  for (let i = 0; i < row.length; i++) {
    const v = row[i]!;
    if (v > max) max = v;
    if ((best < 0 || v > row[best]!) && !banned.includes(i)) best = i;
  }
  return { token: best, prob: Math.exp(row[best]! - max) / expSum(row, max) };
}

const meanLogProb = (conf: readonly number[]) => (conf.length ? conf.reduce((s, p) => s + Math.log(Math.max(p, 1e-30)), 0) / conf.length : 0);

/** Positions of the n smallest confidences (ties: the earlier position first). */
export function leastConfident(conf: readonly number[], n: number): number[] {
  return Array.from(conf.keys()).sort((a, b) => conf[a]! - conf[b]! || a - b).slice(0, n).sort((a, b) => a - b);
}

/**
 * Refines one span per length in `lengths` (all > 0) for `iterations` passes, each pass one
 * batched run; yields the state after every pass. Aborts between passes.
 */
export async function* refine(cmlm: CmlmModel, context: readonly number[], lengths: readonly number[], iterations: number, signal?: AbortSignal, layout: CmlmLayout = 'packed'): AsyncGenerator<Iteration> {
  const mask = cmlm.maskId;
  const banned = cmlm.controlIds;
  const hyps: Hypothesis[] = lengths.map((L) => ({ tokens: new Array<number>(L).fill(mask), confidence: new Array<number>(L).fill(0), score: -Infinity }));
  for (let t = 0; t < iterations; t++) {
    throwIfAborted(signal);
    const t0 = performance.now();
    const remasked = hyps.map((h) => leastConfident(h.confidence, remaskCount(h.tokens.length, iterations, t)).map((position) => ({ position, confidence: h.confidence[position]! })));
    // A pass that re-masks nothing (a short span late in the schedule) would change nothing: skip it.
    if (remasked.some((r) => r.length > 0)) {
      const spans = hyps.map((h, b) => {
        const s = [...h.tokens];
        for (const r of remasked[b]!) s[r.position] = mask;
        return s;
      });
      const out = await cmlm.run(context, spans, signal, layout);
      hyps.forEach((h, b) => {
        for (const { position } of remasked[b]!) {
          const p = predictToken(out.span[b]!.subarray(position * out.vocab, (position + 1) * out.vocab), banned);
          h.tokens[position] = p.token;
          h.confidence[position] = p.prob;
        }
        h.score = meanLogProb(h.confidence);
      });
    }
    yield { iteration: t, hypotheses: hyps.map((h) => ({ tokens: [...h.tokens], confidence: [...h.confidence], score: h.score })), remasked, ms: performance.now() - t0 };
  }
}

/** Index of the best-scoring hypothesis (the first on ties). */
export const bestOf = (hyps: readonly Hypothesis[]): number => hyps.reduce((best, h, i) => (h.score > hyps[best]!.score ? i : best), 0);

/**
 * The Mask-Predict decoder. `req.prompt` is the CMLM context (FIM layout ending in
 * `<|fim_middle|>`). Every pass streams the current best hypothesis as a revision (it replaces
 * what was streamed before); an abort between passes throws and leaves nothing final.
 */
export async function* maskPredict(cmlm: CmlmModel, req: DecodeRequest, o: MaskPredictOptions): AsyncGenerator<DecodeChunk, CompletionTrace> {
  if (req.prompt.length === 0) throw new HastenError('bad-request', 'The prompt is empty.', 'Mask-Predict needs a FIM context ending in <|fim_middle|>.');
  if (!(o.iterations >= 1) || !(o.lengthCandidates >= 1)) {
    throw new HastenError('bad-request', `Mask-Predict needs at least one iteration and one length candidate (got T=${o.iterations}, l=${o.lengthCandidates}).`, 'Set maskPredictIterations and lengthCandidates to 1 or more.');
  }
  const tk = cmlm.folder.tokenizer;
  const trace: CompletionTrace = {
    id: 0, strategy: 'mask-predict', model: cmlm.folder.name, drafter: 'cmlm', promptTokens: req.prompt.length, reusedTokens: 0, tokens: 0, output: [],
    prefillMs: 0, decodeMs: 0, steps: [], stopReason: 'length',
  };
  const maxLength = Math.min(cmlm.maxSpan, req.maxNewTokens, cmlm.contextLength - req.prompt.length);
  const t0 = performance.now();
  const lengths = o.lengths ? checkLengths(o.lengths, maxLength, cmlm) : topLengths((await cmlm.run(req.prompt, [], req.signal)).length, o.lengthCandidates, maxLength);
  trace.prefillMs = performance.now() - t0;
  const t1 = performance.now();
  let final = new Output(tk, req);
  const spans = lengths.filter((l) => l > 0);
  if (spans.length > 0) {
    for await (const it of refine(cmlm, req.prompt, spans, o.iterations, req.signal, o.layout)) {
      const b = bestOf(it.hypotheses);
      const h = it.hypotheses[b]!;
      final = new Output(tk, req);
      const { ids, delta } = final.push(h.tokens);
      const step = stepTrace(it, b, tk.tokenText.bind(tk), ids.length);
      trace.steps.push(step);
      yield { ids, delta, step, revise: true };
    }
  }
  throwIfAborted(req.signal);
  trace.output = final.ids;
  trace.tokens = final.ids.length;
  trace.decodeMs = performance.now() - t1;
  // The span ends where the length head said it does ('eos'), unless a stop token, the caller's
  // stop rule or the token budget cut it first.
  trace.stopReason = final.reason ?? (maxLength <= 0 ? 'length' : 'eos');
  return trace;
}

function checkLengths(lengths: readonly number[], maxLength: number, cmlm: CmlmModel): number[] {
  for (const l of lengths) {
    if (!Number.isInteger(l) || l < 0 || l > maxLength) {
      throw new HastenError('bad-request', `A span of ${l} tokens is outside what Mask-Predict can fill here (0 to ${maxLength}: max_span ${cmlm.maxSpan} in ${cmlm.folder.dir}/config.json, the token budget and the CMLM context of ${cmlm.contextLength}).`,
        'Ask for a shorter span (maskPredictLength), or 0 to let the length head choose.');
    }
  }
  return [...lengths];
}

/** The step record of one pass: the best hypothesis as nodes, the positions it re-masked, their confidences. */
function stepTrace(it: Iteration, best: number, text: (id: number) => string, emitted: number): StepTrace {
  const h = it.hypotheses[best]!;
  return {
    step: it.iteration,
    drafter: 'cmlm',
    // The hypothesis stands until the next pass; nothing verifies it, so every node counts as accepted.
    nodes: h.tokens.map((token, i) => ({ token, text: text(token), parent: i - 1, draftProb: h.confidence[i]!, targetProb: null, status: 'accepted' as const })),
    bonus: null,
    emitted,
    draftMs: it.ms,
    verifyMs: 0,
    totalMs: it.ms,
    remasked: it.remasked[best]!,
  };
}
