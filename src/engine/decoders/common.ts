// What every decoder shares: the request, prefill with prefix reuse, and the output stream with
// its stop rules (end-of-text tokens, a token budget, a caller's text predicate).
import { CausalModel } from '../model/causal';
import { Logits } from '../model/logits';
import { isGreedy, SamplingOptions, seededRandom } from '../sampling';
import { StreamDecoder, TextTokenizer } from '../tokenizer';
import { CompletionTrace, StepTrace } from '../trace';

export interface DecodeRequest {
  prompt: readonly number[];
  maxNewTokens: number;
  sampling: SamplingOptions;
  signal?: AbortSignal;
  /** Ends decoding when it returns true for the text so far (the caller's multi-line policy). */
  stopText?: (text: string) => boolean;
  /** Token healing (see `Prompt.heal`): the first token must start with this text, which is not part of the output text. */
  heal?: string;
}

/** One increment of output. */
export interface DecodeChunk {
  /** Token ids added by this step. */
  ids: number[];
  /** Text that became final with them. */
  delta: string;
  /** The step record, for steps of the decode loop (absent for the first token after prefill). */
  step?: StepTrace;
  /** `ids` and `delta` replace everything streamed before (Mask-Predict revises its whole span each pass). */
  revise?: boolean;
}

export type StopReason = CompletionTrace['stopReason'];

/** Applies the stop rules to tokens as they are produced and streams their text. */
export class Output {
  readonly ids: number[] = [];
  reason: StopReason | null = null;
  private readonly decoder: StreamDecoder;
  private text = '';
  /** Decoded text including the healed characters, which are not shown. */
  private raw = '';

  constructor(private readonly tokenizer: TextTokenizer, private readonly req: DecodeRequest) {
    this.decoder = new StreamDecoder(tokenizer);
  }

  get done(): boolean {
    return this.reason !== null;
  }

  /** Takes a step's tokens; returns the ones that count (cut at a stop) and the new text. */
  push(ids: readonly number[]): { ids: number[]; delta: string } {
    const taken: number[] = [];
    for (const id of ids) {
      if (this.done) break;
      if (this.tokenizer.stopIds.has(id)) {
        this.reason = 'eos';
        break;
      }
      taken.push(id);
      this.ids.push(id);
      if (this.ids.length >= this.req.maxNewTokens) this.reason = 'length';
    }
    this.raw += taken.length ? this.decoder.push(taken) : '';
    const skip = this.req.heal?.length ?? 0;
    const visible = this.raw.length > skip ? this.raw.slice(skip) : '';
    const delta = visible.slice(this.text.length);
    this.text = visible;
    if (!this.done && this.req.stopText?.(this.text)) this.reason = 'stop';
    return { ids: taken, delta };
  }

  /** Room left in the model's context after `model.length` tokens plus the pending one. */
  static room(model: Pick<CausalModel, 'contextLength' | 'length'>): number {
    return model.contextLength - model.length - 1;
  }
}

/** What prefill returns: the logits after the last prompt token (one row, 0; healed), the reused count and the time. */
export interface Prefilled {
  first: Logits;
  reused: number;
  ms: number;
}

/**
 * Runs the prompt through the model, reusing the KV of the longest common prefix with what the
 * cache already holds. Greedy decoding reads only the first token's argmax (on a device, 8 bytes
 * instead of the row). With token healing that argmax is the answer when it starts with the healed
 * text (then it is also the argmax of the healed row); when it does not, the last prompt token runs
 * again and its row is read and healed. Sampling reads the row.
 */
export async function prefill(model: CausalModel, prompt: readonly number[], signal?: AbortSignal, heal?: string, sampling?: SamplingOptions): Promise<Prefilled> {
  const t0 = performance.now();
  const tk = model.folder.tokenizer;
  const reused = model.retain(prompt.slice(0, -1));
  const feed = prompt.slice(reused);
  const logits = await model.forward(feed, null, signal, { lastOnly: true, read: sampling && isGreedy(sampling) ? 'argmax' : 'rows' });
  model.commit(feed.map((_, i) => i));
  const last = feed.length - 1;
  let first: Logits;
  if (logits.hasRows) {
    first = firstRow(logits.row(last).slice(), tk, heal);
  } else if (!heal || tk.healMask(heal, model.vocab)[logits.argmax(last)]) {
    first = new Logits(new Float32Array(0), 1, 0, 0, Int32Array.of(logits.argmax(last)));
  } else {
    model.retain(prompt.slice(0, -1));
    const again = await model.forward(prompt.slice(-1), null, signal, { lastOnly: true });
    model.commit([0]);
    first = firstRow(again.row(0).slice(), tk, heal);
  }
  return { first, reused, ms: performance.now() - t0 };
}

/** A prefill's last row as a one-row Logits, healed. */
export function firstRow(row: Float32Array, tk: TextTokenizer, heal: string | undefined): Logits {
  return new Logits(healRow(row, tk, heal), 1, row.length);
}

/** Token healing: rules out every first token whose text does not start with `heal` (in place). */
export function healRow(row: Float32Array, tk: TextTokenizer, heal: string | undefined): Float32Array {
  if (!heal) return row;
  const mask = tk.healMask(heal, row.length);
  for (let i = 0; i < row.length; i++) if (!mask[i]) row[i] = -Infinity;
  return row;
}

/** What every decoder sets up before its loop: the trace, the output stream, the seeded RNG, and the prefill's logits (row 0). */
export async function opening(model: { folder: { name: string; tokenizer: TextTokenizer } }, req: DecodeRequest, strategy: string, drafter: string,
  runPrefill: () => Promise<Prefilled>): Promise<{ tk: TextTokenizer; trace: CompletionTrace; out: Output; rand: () => number; first: Logits }> {
  const tk = model.folder.tokenizer;
  const trace = newTrace(strategy, model, drafter, req.prompt.length);
  const out = new Output(tk, req);
  const rand = seededRandom(req.sampling.seed);
  const pre = await runPrefill();
  trace.reusedTokens = pre.reused;
  trace.prefillMs = pre.ms;
  return { tk, trace, out, rand, first: pre.first };
}

/** One step of a decoder: the tokens it adds after the pending one, and its trace record once emitted. */
export interface LoopStep {
  newIds: number[];
  trace: (emitted: number, index: number) => StepTrace;
}

/**
 * The loop every decoder shares: yield the first token, then run the decoder's `step` (draft,
 * verify, accept, roll back, update) until a stop rule fires or the context is full, streaming
 * each step's tokens and recording its trace; then close the trace. `room` is the context left.
 */
export async function* decodeLoop(trace: CompletionTrace, out: Output, first: DecodeChunk, room: () => number, step: (room: number) => Promise<LoopStep>): AsyncGenerator<DecodeChunk, CompletionTrace> {
  const t0 = performance.now();
  yield first;
  while (!out.done) {
    const r = room();
    if (r < 0) {
      out.reason = 'context';
      break;
    }
    const s = await step(r);
    const { ids, delta } = out.push(s.newIds);
    const st = s.trace(ids.length, trace.steps.length);
    trace.steps.push(st);
    yield { ids, delta, step: st };
  }
  trace.tokens = out.ids.length;
  trace.output = out.ids;
  trace.decodeMs = performance.now() - t0;
  trace.stopReason = out.reason ?? 'length';
  return trace;
}

/** The first token after prefill as a plain chunk (decoders without exit layers). */
export function plainFirst(out: Output, token: number): DecodeChunk {
  const { ids, delta } = out.push([token]);
  return { ids, delta };
}

export function newTrace(strategy: string, model: { folder: { name: string } }, drafter: string, promptTokens: number): CompletionTrace {
  return {
    id: 0, strategy, model: model.folder.name, drafter, promptTokens, reusedTokens: 0, tokens: 0, output: [],
    prefillMs: 0, decodeMs: 0, steps: [], stopReason: 'length',
  };
}
