// The KV cache of a builder-made fast graph: one buffer per layer for K and one for V, allocated
// once and grown in steps as the sequence grows. Committed tokens occupy slots 0..count-1; a forward
// block is written after them; commit moves the kept nodes of a tree down to close the gaps (a few
// rows per layer), and rejected slots are simply overwritten by the next block. There are never holes.
//
// onnxruntime-node (1.30) copies every output of a run into a fresh ArrayBuffer, a preallocated one
// included, while a CPU tensor over a JS typed array is read in place as an input. So the CPU graph
// (`model_fast_cpu.onnx`) takes each buffer as an input only: its attention reads the buffer's slots
// (masked after the committed tokens by `attention_bias`) and the block's own K/V, and only the
// block's new rows come out, which `block` writes into the buffer. A step copies rows, not the cache.
// Older builds have only the GroupQueryAttention fast graph, which writes the buffer in place as
// its present; fetched back, it costs a copy of the whole allocated cache every step (`runShared`).
// Either way the buffers grow in steps of GROWTH slots, so what is allocated (and what the CPU
// graph attends over, masked) stays close to the tokens really held.
//
// On a device (WebGPU) the cache lives in deviceKv.ts.
import * as ort from 'onnxruntime-node';
import type { Read } from './deviceKv';
import { concat, Logits } from './logits';

const MIN = -3.4028234663852886e38;

/** A fact about a session's graph, looked up once per session rather than every step. */
function perSession<T>(of: (session: ort.InferenceSession) => T): (session: ort.InferenceSession) => T {
  const seen = new WeakMap<ort.InferenceSession, T>();
  return (session) => {
    if (!seen.has(session)) seen.set(session, of(session));
    return seen.get(session)!;
  };
}

/** Whether a session's graph takes `logits_to_keep`. */
const takesKeep = perSession((s) => s.inputNames.includes('logits_to_keep'));

/** Whether a graph outputs each kept row's `argmax` and `confidence` (the CPU graph from builder 6), so a greedy run need not fetch the rows. */
export const outputsGreedy = perSession((s) => s.outputNames.includes('argmax') && s.outputNames.includes('confidence'));

/** What a greedy run of the CPU graph fetches: every output but the logits (each layer's new rows, each kept row's argmax and confidence). */
const greedyFetches = perSession((s) => s.outputNames.filter((n) => n !== 'logits'));

/** Whether a session is the CPU graph (returns the block's `new.N.*` rows) rather than a graph that writes its presents in place. */
export const returnsRows = perSession((s) => s.outputNames.includes('new.0.key'));

/** Slots allocated at first. */
export const INITIAL_SLOTS = 256;
/** Slots added when a block would not fit (rounded up to a multiple of this). */
export const GROWTH = 128;
/** Longest chain the CPU graph runs in one pass (a longer prefill runs in parts): its scores are heads x S x (slots + S) floats. */
export const CHUNK = 256;

/**
 * The first `n` slots of every head of a head-major buffer [heads, slots, headDim], in a new buffer of
 * `size` slots (a grown cache, or with size = n the cache alone).
 */
export function keepSlots(src: Float32Array, slots: number, n: number, size: number, heads: number, headDim: number): Float32Array {
  const out = new Float32Array(heads * size * headDim);
  for (let h = 0; h < heads; h++) out.set(src.subarray(h * slots * headDim, (h * slots + n) * headDim), h * size * headDim);
  return out;
}

/** Writes slots `from`.. of every head of `rows` [heads, rowSlots, headDim] into `dst` [heads, slots, headDim] from slot `at`. */
export function writeSlots(dst: Float32Array, slots: number, at: number, rows: Float32Array, rowSlots: number, heads: number, headDim: number, from = 0): void {
  for (let h = 0; h < heads; h++) dst.set(rows.subarray((h * rowSlots + from) * headDim, (h + 1) * rowSlots * headDim), (h * slots + at) * headDim);
}

export class InPlaceKv {
  private keys: ort.Tensor[] = [];
  private values: ort.Tensor[] = [];
  private keyData: Float32Array[] = [];
  private valueData: Float32Array[] = [];
  /** Slots allocated now (at most `slots`). */
  capacity = 0;
  /** Committed tokens (the first `count` slots). */
  count = 0;
  /** Tokens of the last forward block, still tentative. */
  private pending = 0;
  private biasBuf = new Float32Array(0);

  constructor(readonly layers: number, readonly kvHeads: number, readonly headDim: number, readonly slots: number, initial = INITIAL_SLOTS) {
    this.allocate(Math.min(slots, initial));
  }

  /** (Re)allocates every buffer with `capacity` slots, keeping the first `keep` rows (default: the committed ones). */
  private allocate(capacity: number, keep = this.count): void {
    const hd = this.headDim;
    const grow = (old: Float32Array | undefined) => (old ? keepSlots(old, this.capacity, keep, capacity, this.kvHeads, hd) : new Float32Array(this.kvHeads * capacity * hd));
    this.keyData = Array.from({ length: this.layers }, (_, l) => grow(this.keyData[l]));
    this.valueData = Array.from({ length: this.layers }, (_, l) => grow(this.valueData[l]));
    const dims = [1, this.kvHeads, capacity, hd];
    this.keys = this.keyData.map((d) => new ort.Tensor('float32', d, dims));
    this.values = this.valueData.map((d) => new ort.Tensor('float32', d, dims));
    this.capacity = capacity;
  }

  /** Makes room for `total` slots, to the next multiple of GROWTH, keeping the first `keep` (default: the committed tokens). */
  private grow(total: number, keep = this.count): void {
    if (total > this.capacity) this.allocate(Math.min(this.slots, Math.ceil(total / GROWTH) * GROWTH), keep);
  }

  /** Bytes held by the cache. */
  get bytes(): number {
    return 2 * this.layers * this.kvHeads * this.capacity * this.headDim * 4;
  }

  reset(): void {
    this.count = 0;
    this.pending = 0;
  }

  /** Keeps the first n committed tokens. */
  truncate(n: number): void {
    this.count = Math.min(this.count, n);
    this.pending = 0;
  }

  /** Drops the buffers (the garbage collector frees them). */
  dispose(): void {
    this.keys = [];
    this.values = [];
    this.keyData = [];
    this.valueData = [];
  }

  /** Free slots after the committed tokens. */
  get room(): number {
    return this.slots - this.count;
  }

  /**
   * Runs a block of `tokens` after the committed ones. `tree` gives each node's parent (-1: the
   * committed sequence) and depth; null is a chain. Returns logits [T, vocab]; with `read: 'argmax'`, a
   * CPU graph that outputs them brings back only each row's argmax and its probability (no rows).
   */
  async run(session: ort.InferenceSession, tokens: readonly number[], tree: { parents: readonly number[]; depths: readonly number[] } | null, lastOnly = false, read: Read = 'rows'): Promise<Logits> {
    const T = tokens.length;
    const total = this.count + T;
    if (total > this.slots) throw new RangeError(`in-place KV cache: ${total} slots needed, ${this.slots} allocated`);
    const rows = returnsRows(session);
    // The CPU graph is given only the slots that hold rows, so its buffers are sized part by part (`block`).
    if (!rows) this.grow(total);
    const logits = rows ? await this.runRows(session, tokens, tree, lastOnly, read === 'argmax' && outputsGreedy(session)) : await this.runShared(session, tokens, tree, lastOnly);
    this.pending = T;
    return logits;
  }

  /** The CPU graph: a tree or a short chain in one pass, a long chain in parts of CHUNK tokens. */
  private async runRows(session: ort.InferenceSession, tokens: readonly number[], tree: { parents: readonly number[]; depths: readonly number[] } | null, lastOnly: boolean, greedy: boolean): Promise<Logits> {
    const T = tokens.length;
    if (tree || T <= CHUNK) return this.block(session, tokens, tree, this.count, lastOnly ? 1 : T, greedy);
    const parts: Logits[] = [];
    for (let i = 0; i < T; i += CHUNK) {
      const part = tokens.slice(i, i + CHUNK);
      parts.push(await this.block(session, part, null, this.count + i, lastOnly ? 1 : part.length, greedy));
    }
    const V = parts[0]!.vocab;
    const last = parts[parts.length - 1]!;
    if (lastOnly) return new Logits(last.data, T, V, T - 1, last.argmaxes, last.confidences);
    if (greedy) return new Logits(new Float32Array(0), T, 0, 0, concat(parts.map((p) => p.argmaxes!), Int32Array), concat(parts.map((p) => p.confidences!), Float32Array));
    const data = new Float32Array(T * V);
    parts.forEach((p, i) => data.set(p.data, i * CHUNK * V));
    return new Logits(data, T, V);
  }

  /**
   * One pass of the CPU graph over `tokens` at slots past..past+S-1, whose K/V rows it writes there
   * (the buffers are only read by the graph). Returns the last `keep` rows of logits, or with `greedy`
   * only their argmaxes and confidences (the rows are neither fetched nor copied).
   */
  private async block(session: ort.InferenceSession, tokens: readonly number[], tree: { parents: readonly number[]; depths: readonly number[] } | null, past: number, keep: number, greedy = false): Promise<Logits> {
    const S = tokens.length;
    // The graph attends over every slot it is given (masked past the committed ones): give it the buffer only
    // when it holds rows, sized to them (GROWTH steps; a buffer left large by a longer request is cut down).
    const fit = Math.max(GROWTH, Math.ceil(past / GROWTH) * GROWTH);
    if (this.capacity > fit + 2 * GROWTH) this.allocate(fit, past);
    const C = past === 0 ? 0 : this.capacity;
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', BigInt64Array.from(tokens, (x) => BigInt(x)), [1, S]),
      position_ids: new ort.Tensor('int64', BigInt64Array.from(tokens, (_, i) => BigInt(past + (tree ? tree.depths[i]! : i))), [1, S]),
      attention_bias: new ort.Tensor('float32', this.blockBias(tree?.parents ?? null, S, past, C), [1, 1, S, C + S]),
      logits_to_keep: new ort.Tensor('int64', BigInt64Array.of(BigInt(keep)), []),
    };
    const empty = C === 0 ? new ort.Tensor('float32', new Float32Array(0), [1, this.kvHeads, 0, this.headDim]) : null;
    for (let l = 0; l < this.layers; l++) {
      feeds[`past_key_values.${l}.key`] = empty ?? this.keys[l]!;
      feeds[`past_key_values.${l}.value`] = empty ?? this.values[l]!;
    }
    const out = greedy ? await session.run(feeds, greedyFetches(session)) : await session.run(feeds);
    this.grow(past + S, past);
    const hd = this.headDim;
    const W = this.capacity;
    for (let l = 0; l < this.layers; l++) {
      for (const [dst, name] of [[this.keyData[l]!, `new.${l}.key`], [this.valueData[l]!, `new.${l}.value`]] as const) {
        writeSlots(dst, W, past, out[name]!.data as Float32Array, S, this.kvHeads, hd); // rows [1, kvHeads, S, headDim]
      }
    }
    if (greedy) {
      const ids = out.argmax!.data as BigInt64Array;
      return new Logits(new Float32Array(0), S, 0, S - keep, Int32Array.from(ids, Number), out.confidence!.data as Float32Array);
    }
    const logits = out.logits!;
    return new Logits(logits.data as Float32Array, S, logits.dims[2]!, S - keep);
  }

  /**
   * [S, C + S] for the CPU graph: slot j < past and the block's own nodes that node i may attend (its
   * ancestors and itself; in a chain, the nodes before it) are 0, the rest MIN.
   */
  private blockBias(parents: readonly number[] | null, S: number, past: number, C: number): Float32Array {
    const n = S * (C + S);
    if (this.biasBuf.length < n) this.biasBuf = new Float32Array(Math.max(n, 2 * this.biasBuf.length));
    const bias = this.biasBuf.subarray(0, n);
    for (let i = 0; i < S; i++) {
      const row = i * (C + S);
      bias.fill(0, row, row + past);
      bias.fill(MIN, row + past, row + C + S);
      if (parents) for (let j = i; j !== -1; j = parents[j]!) bias[row + C + j] = 0;
      else bias.fill(0, row + C, row + C + i + 1);
    }
    return bias;
  }

  /** A GroupQueryAttention fast graph (builds without the CPU graph): the buffers are its presents, fetched back whole. */
  private async runShared(session: ort.InferenceSession, tokens: readonly number[], tree: { parents: readonly number[]; depths: readonly number[] } | null, lastOnly: boolean): Promise<Logits> {
    const T = tokens.length;
    const past = this.count;
    const total = past + T;
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', BigInt64Array.from(tokens, (x) => BigInt(x)), [1, T]),
      seqlens_k: new ort.Tensor('int32', Int32Array.of(total - 1), [1]),
      total_sequence_length: new ort.Tensor('int32', Int32Array.of(total), []),
    };
    // Graphs built before logits_to_keep compute every row.
    const canKeep = takesKeep(session);
    const keep = lastOnly && canKeep ? 1 : T;
    if (canKeep) feeds.logits_to_keep = new ort.Tensor('int64', BigInt64Array.of(BigInt(keep)), []);
    if (tree) {
      feeds.position_ids = new ort.Tensor('int64', BigInt64Array.from(tree.depths, (d) => BigInt(past + d)), [1, T]);
      feeds.attention_bias = new ort.Tensor('float32', this.treeBias(tree.parents, past), [1, 1, T, total]);
    }
    const fetches: Record<string, ort.Tensor | null> = { logits: null };
    for (let l = 0; l < this.layers; l++) {
      feeds[`past_key_values.${l}.key`] = this.keys[l]!;
      feeds[`past_key_values.${l}.value`] = this.values[l]!;
      fetches[`present.${l}.key`] = this.keys[l]!;
      fetches[`present.${l}.value`] = this.values[l]!;
    }
    // onnxruntime-node types fetches as a name list or a name -> tensor map; a null value asks it to allocate.
    const out = await session.run(feeds, fetches as unknown as ort.InferenceSession.FetchesType);
    const logits = out.logits!;
    return new Logits(logits.data as Float32Array, T, logits.dims[2]!, T - keep);
  }

  /** [T, past + T]: 0 where node i may attend (the past, itself and its ancestors), MIN elsewhere. */
  private treeBias(parents: readonly number[], past: number): Float32Array {
    const T = parents.length;
    const n = T * (past + T);
    if (this.biasBuf.length < n) this.biasBuf = new Float32Array(Math.max(n, 2 * this.biasBuf.length));
    const bias = this.biasBuf.subarray(0, n);
    for (let i = 0; i < T; i++) {
      const row = i * (past + T);
      bias.fill(0, row, row + past);
      bias.fill(MIN, row + past, row + past + T);
      for (let j = i; j !== -1; j = parents[j]!) bias[row + past + j] = 0;
    }
    return bias;
  }

  /** Keeps these nodes of the last block (indices into it, in increasing order) as the next committed tokens. */
  commit(nodes: readonly number[]): void {
    if (nodes.some((n, j) => n >= this.pending || (j > 0 && n <= nodes[j - 1]!))) {
      throw new RangeError(`commit(): nodes ${nodes.join(',')} must be increasing indices into the last block of ${this.pending}`);
    }
    const base = this.count;
    const hd = this.headDim;
    nodes.forEach((n, j) => {
      if (n === j) return;
      const from = base + n;
      const to = base + j;
      for (let l = 0; l < this.layers; l++) {
        for (const data of [this.keyData[l]!, this.valueData[l]!]) {
          for (let h = 0; h < this.kvHeads; h++) {
            const off = h * this.capacity * hd;
            data.copyWithin(off + to * hd, off + from * hd, off + (from + 1) * hd);
          }
        }
      }
    });
    this.count += nodes.length;
    this.pending = 0;
  }

  /** Layer l's committed K or V rows as a fresh [1, kvHeads, count, headDim] array (tests, measurements). */
  committed(l: number, which: 'key' | 'value'): Float32Array {
    const src = which === 'key' ? this.keyData[l]! : this.valueData[l]!;
    return keepSlots(src, this.capacity, this.count, this.count, this.kvHeads, this.headDim);
  }
}
