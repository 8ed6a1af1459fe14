// The conditional masked LM (CMLM) that Mask-Predict refines a span with. One call runs one
// context with several candidate spans in a single pass, `<|fim_prefix|> prefix <|fim_suffix|>
// suffix <|fim_middle|> span...`, laid out one of two ways:
//   'batch'   one row per span, padded to the longest ([B, C + max L]);
//   'packed'  one row, the context once and the spans after it ([1, C + ΣL]); each span's position
//             ids restart at C, so it sees exactly what it would see alone. The context is computed
//             once instead of B times, and the context dominates the cost.
// The additive attention bias does all the masking either way: context attends to context only,
// each span to the context and itself, padding only to padding, so no span sees another span or
// padding (models/toolchain/train.py, cmlm_batch, is the convention).
import * as ort from 'onnxruntime-node';
import { HastenError, throwIfAborted } from '../errors';
import { ModelFolder, openModelFolder } from './folder';
import { openSession, Provider, RuntimeOptions } from './session';

const MIN = -3.4028234663852886e38;

export type CmlmLayout = 'packed' | 'batch';

interface Feeds {
  ids: BigInt64Array; // [B, T]
  pos: BigInt64Array; // [B, T]
  bias: Float32Array; // [B, 1, T, T]
  B: number;
  T: number;
  /** Flat row-major index (b * T + t) of each span's first position. */
  starts: number[];
  /** Flat index of the `<|fim_middle|>` position each span's row holds (a shifted CMLM reads token 0 there). */
  mids: number[];
}

/** One row per span, padded; padding attends only to padding (never read). */
function batchFeeds(context: readonly number[], spans: readonly (readonly number[])[], pad: number): Feeds {
  const C = context.length;
  const B = Math.max(1, spans.length);
  const T = C + Math.max(0, ...spans.map((r) => r.length));
  const ids = new BigInt64Array(B * T).fill(BigInt(pad));
  const pos = new BigInt64Array(B * T);
  const bias = new Float32Array(B * T * T).fill(MIN);
  for (let b = 0; b < B; b++) {
    const span = spans[b] ?? [];
    const n = C + span.length;
    context.forEach((x, i) => (ids[b * T + i] = BigInt(x)));
    span.forEach((x, i) => (ids[b * T + C + i] = BigInt(x)));
    for (let i = 0; i < T; i++) {
      pos[b * T + i] = BigInt(i);
      const row = (b * T + i) * T;
      if (i < C) bias.fill(0, row, row + C);
      else if (i < n) bias.fill(0, row, row + n);
      else bias.fill(0, row + n, row + T);
    }
  }
  return { ids, pos, bias, B, T, starts: spans.map((_, b) => b * T + C), mids: spans.map((_, b) => b * T + C - 1) };
}

/** One row: the context once, then each span with positions restarting at C. */
function packedFeeds(context: readonly number[], spans: readonly (readonly number[])[]): Feeds {
  const C = context.length;
  const T = C + spans.reduce((s, r) => s + r.length, 0);
  const ids = new BigInt64Array(T);
  const pos = new BigInt64Array(T);
  const bias = new Float32Array(T * T).fill(MIN);
  context.forEach((x, i) => {
    ids[i] = BigInt(x);
    pos[i] = BigInt(i);
    bias.fill(0, i * T, i * T + C);
  });
  const starts: number[] = [];
  let at = C;
  for (const span of spans) {
    starts.push(at);
    span.forEach((x, k) => {
      const i = at + k;
      ids[i] = BigInt(x);
      pos[i] = BigInt(C + k);
      bias.fill(0, i * T, i * T + C);
      bias.fill(0, i * T + at, i * T + at + span.length);
    });
    at += span.length;
  }
  return { ids, pos, bias, B: 1, T, starts, mids: starts.map(() => C - 1) };
}

/**
 * A shifted CMLM's logits for one span of `L` tokens: row `mid` (the context's `<|fim_middle|>`, token 0), then the
 * span's own positions `start .. start + L - 2` (tokens 1 .. L - 1). A copy: in the packed layout the rows are
 * not contiguous.
 */
function shiftedRows(logits: Float32Array, V: number, mid: number, start: number, L: number): Float32Array {
  const out = new Float32Array(L * V);
  if (L === 0) return out;
  out.set(logits.subarray(mid * V, (mid + 1) * V), 0);
  out.set(logits.subarray(start * V, (start + L - 1) * V), V);
  return out;
}

/** What one batched run returns. */
export interface CmlmOutput {
  /** Per span, the logits of its tokens, [L_b, vocab] flattened (a view; a copy for a shifted CMLM). */
  span: Float32Array[];
  /** Length logits read at `<|fim_middle|>`, [maxSpan + 1]; index = span length. */
  length: Float32Array;
  vocab: number;
}

export class CmlmModel {
  /** Forward passes and time spent in them, for statistics. */
  runs = 0;
  runMs = 0;

  private constructor(readonly folder: ModelFolder, private readonly session: ort.InferenceSession, readonly provider: Provider) {}

  /** Opens a CMLM folder (config model_type "hasten-cmlm"); anything else is a clear error. */
  static async open(dir: string, runtime: RuntimeOptions): Promise<CmlmModel> {
    const folder = openModelFolder(dir);
    if (folder.raw.model_type !== 'hasten-cmlm' || !folder.files.cmlm) {
      throw new HastenError('model-mismatch', `${folder.dir} is not a conditional masked LM (config.json model_type is "${String(folder.raw.model_type)}", expected "hasten-cmlm").`,
        'Mask-Predict needs the CMLM folder (models/hasten-cmlm, or the manifest\'s defaults.cmlm).');
    }
    const opened = await openSession(folder.files.cmlm, runtime);
    const s = opened.session;
    const missing = ['input_ids', 'attention_mask', 'position_ids'].filter((n) => !s.inputNames.includes(n))
      .concat(['logits', 'length_logits'].filter((n) => !s.outputNames.includes(n)));
    if (missing.length) {
      await s.release();
      throw new HastenError('model-mismatch', `${folder.files.cmlm} lacks ${missing.join(', ')}.`, 'Re-export the CMLM with models/toolchain/export.py.');
    }
    return new CmlmModel(folder, s, opened.provider);
  }

  /**
   * Whether span token k's logits are read at the position before it (config `span_logits_shift`: 1), as the
   * causal model the CMLM starts from predicts the next token: token 0 at the context's `<|fim_middle|>`, token k
   * at span position k - 1. 0 (CMLMs before the seventh training session): at its own position.
   */
  get shift(): boolean {
    return this.folder.raw.span_logits_shift === 1;
  }

  /** Longest span the length head can predict (config max_span). */
  get maxSpan(): number {
    const v = this.folder.raw.max_span;
    return typeof v === 'number' && v > 0 ? v : 48;
  }

  get maskId(): number {
    const v = this.folder.raw.mask_token_id;
    return typeof v === 'number' ? v : this.folder.tokenizer.idOf('<|mask|>') ?? 5;
  }

  /** Longest context + span the model takes (max_position_embeddings). */
  get contextLength(): number {
    return this.folder.config.contextLength;
  }

  /** Ids a span must never contain: the FIM control tokens, the mask and padding. */
  get controlIds(): number[] {
    const fim = this.folder.tokenizer.fim;
    const ids = [this.maskId, ...(fim ? [fim.prefixId, fim.suffixId, fim.middleId] : []), this.padId];
    return [...new Set(ids)];
  }

  /**
   * Runs `context` (ending in `<|fim_middle|>`) with every span of `spans` in one pass. An empty
   * `spans` list, or spans of length zero, still returns the length logits.
   */
  async run(context: readonly number[], spans: readonly (readonly number[])[], signal?: AbortSignal, layout: CmlmLayout = 'packed'): Promise<CmlmOutput> {
    throwIfAborted(signal);
    const C = context.length;
    if (C === 0) throw new HastenError('bad-request', 'The CMLM context is empty.', 'Mask-Predict needs a FIM context ending in <|fim_middle|>.');
    const longest = C + Math.max(0, ...spans.map((r) => r.length));
    if (longest > this.contextLength) {
      throw new HastenError('context-overflow', `Context ${C} + span ${longest - C} tokens exceed the CMLM's ${this.contextLength}.`, 'Shorten the context or the span (max_span in models/hasten-cmlm/config.json).');
    }
    const feeds = layout === 'packed' ? packedFeeds(context, spans) : batchFeeds(context, spans, this.padId);
    const t0 = performance.now();
    // Without spans only the length head is read: skip fetching (copying) logits [B, T, vocab].
    const fetches = spans.some((r) => r.length > 0) ? ['logits', 'length_logits'] : ['length_logits'];
    const out = await this.session.run({
      input_ids: new ort.Tensor('int64', feeds.ids, [feeds.B, feeds.T]),
      attention_mask: new ort.Tensor('float32', feeds.bias, [feeds.B, 1, feeds.T, feeds.T]),
      position_ids: new ort.Tensor('int64', feeds.pos, [feeds.B, feeds.T]),
    }, fetches);
    this.runs++;
    this.runMs += performance.now() - t0;
    throwIfAborted(signal);
    const V = out.logits?.dims[2] ?? 0;
    const logits = (out.logits?.data ?? new Float32Array(0)) as Float32Array;
    const lenW = out.length_logits!.dims[2]!;
    const length = (out.length_logits!.data as Float32Array).slice((C - 1) * lenW, C * lenW);
    const span = spans.map((r, b) => (this.shift
      ? shiftedRows(logits, V, feeds.mids[b]!, feeds.starts[b]!, r.length)
      : logits.subarray(feeds.starts[b]! * V, (feeds.starts[b]! + r.length) * V)));
    return { span, length, vocab: V };
  }

  private get padId(): number {
    const v = this.folder.raw.pad_token_id;
    return typeof v === 'number' ? v : 4;
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
