// The KV cache of a builder-made fast graph on a device (WebGPU): the graph's `gpu-buffer` present
// outputs, fed back as the next run's past. GroupQueryAttention copies the past into the present on
// the device and writes the block after it, so nothing crosses to the host but what the decoder
// reads: the logits rows it asked for, or, for a greedy read, only each row's argmax (the graph's
// `argmax` output, 8 bytes a row instead of 4 x vocab; the rows stay on the device, unfetched).
//
// onnxruntime-node cannot read a gpu-buffer tensor back (getData aborts the process in 1.30), so a
// tree's kept nodes are not moved: those not already in place are `stale`, committed but rewritten by
// prepending them to the next block (their K/V depend only on their prefix, so the rewrite is exact),
// and their logits rows are not computed again. The host cache (inplace.ts) moves rows instead.
import * as ort from 'onnxruntime-node';
import { ReadBack, release, runOn } from './device';
import { concat, Logits } from './logits';

const MIN = -3.4028234663852886e38;
/** fp16's lowest finite value (-65504), as its bits: the masked entries of an fp16 graph's tree bias. */
const MIN_HALF = 0xfbff;
/** The longest block GroupQueryAttention runs with its short-block kernel (see `checkLongBlocks`). */
export const SHORT_BLOCK = 31;

/** What a forward block brings back to the host: every kept logits row, or only each row's argmax. */
export type Read = 'rows' | 'argmax';

/** Whether a fast graph returns only argmaxes for a negative logits_to_keep (builder 3 on: it has the `argmax` output). */
export function readsArgmax(session: ort.InferenceSession): boolean {
  return session.outputNames.includes('argmax') && session.inputNames.includes('logits_to_keep');
}

/** A token tree: each node's parent (-1: the committed sequence) and depth. */
export interface TreeShape {
  parents: readonly number[];
  depths: readonly number[];
}

export class DeviceKv {
  private keys: ort.Tensor[];
  private values: ort.Tensor[];
  /** Committed tokens (the first `count` slots). */
  count = 0;
  /** Tokens of the last forward block, still tentative. */
  private pending = 0;
  /** Committed tokens (the last of `count`) whose K/V the next run rewrites. */
  private stale: number[] = [];
  private lastTokens: readonly number[] = [];
  private biasBuf: Float32Array | Uint16Array;

  /** `half`: the graph's K/V and tree bias are fp16 (the build's gpu variant), fed as bits in a Uint16Array. */
  constructor(readonly layers: number, readonly kvHeads: number, readonly headDim: number, readonly slots: number, private readonly readBack?: ReadBack, readonly half = false) {
    this.biasBuf = half ? new Uint16Array(0) : new Float32Array(0);
    // Zero host tensors of the whole context: the first run uploads them, later runs feed the device's presents.
    const dims = [1, kvHeads, slots, headDim];
    const n = kvHeads * slots * headDim;
    const zero = () => (half ? new ort.Tensor('float16', new Uint16Array(n), dims) : new ort.Tensor('float32', new Float32Array(n), dims));
    this.keys = Array.from({ length: layers }, zero);
    this.values = Array.from({ length: layers }, zero);
  }

  /** Committed tokens whose K/V the next run writes first. */
  get staleCount(): number {
    return this.stale.length;
  }

  reset(): void {
    this.count = 0;
    this.pending = 0;
    this.stale = [];
  }

  /** Keeps the first n committed tokens. */
  truncate(n: number): void {
    const written = this.count - this.stale.length;
    this.stale = n <= written ? [] : this.stale.slice(0, n - written);
    this.count = Math.min(this.count, n);
    this.pending = 0;
  }

  /** Releases the device buffers. */
  dispose(): void {
    for (const t of [...this.keys, ...this.values]) release(t);
    this.keys = [];
    this.values = [];
  }

  /**
   * The longest block one run may hold (see `checkLongBlocks`): a longer chain is cut into runs of at
   * most this many tokens, whose logits come back together as the block's. Infinity: no limit.
   */
  maxBlock = Infinity;

  /**
   * Runs a block after the committed tokens (stale ones first); the presents replace (and release)
   * the past. Returns logits for the block's rows (`lastOnly`: its last), read as `read` asks.
   */
  async run(session: ort.InferenceSession, block: readonly number[], blockTree: TreeShape | null, o: { lastOnly?: boolean; read?: Read } = {}): Promise<Logits> {
    const s = this.stale.length;
    const tokens = s ? [...this.stale, ...block] : block;
    const tree = blockTree && s
      ? { parents: [...this.stale.map((_, i) => i - 1), ...blockTree.parents.map((p) => (p < 0 ? s - 1 : p + s))], depths: [...this.stale.map((_, i) => i), ...blockTree.depths.map((d) => d + s)] }
      : blockTree;
    const T = tokens.length;
    const past = this.count - s;
    if (past + T > this.slots) throw new RangeError(`device KV cache: ${past + T} slots needed, ${this.slots} allocated`);
    if (tree && T > this.maxBlock) throw new RangeError(`device KV cache: a tree of ${T} nodes is longer than the ${this.maxBlock} tokens this device runs at once (run it as paths)`);
    // Only the rows the decoder reads are computed past the last layer: the block's (not the stale prefix's), or its last.
    const keep = o.lastOnly ? 1 : block.length;
    // onnxruntime-node copies every output of a device session (it refuses a subset of them), so a
    // greedy read asks the graph for no logits rows at all (a negative keep): only the argmaxes come back.
    const argmaxOnly = o.read === 'argmax' && readsArgmax(session);
    const parts: { data: Float32Array; argmax: Int32Array | null; vocab: number }[] = [];
    for (let a = 0; a < T; a += this.maxBlock) {
      const b = Math.min(T, a + this.maxBlock);
      // Each run computes at least its last row; the block's rows are those from T - keep on.
      const wanted = Math.max(0, b - Math.max(a, T - keep));
      // runOnce returns exactly the rows asked for; a run none of whose rows are wanted still computes one (keep >= 1).
      const part = await this.runOnce(session, tokens.slice(a, b), tree, past + a, Math.max(1, wanted), argmaxOnly);
      if (wanted > 0) parts.push(part);
    }
    this.stale = [];
    this.pending = block.length;
    this.lastTokens = block;
    const V = parts[0]!.vocab;
    if (argmaxOnly) return new Logits(new Float32Array(0), block.length, 0, block.length - keep, parts.length === 1 ? parts[0]!.argmax! : concat(parts.map((p) => p.argmax!), Int32Array));
    return new Logits(parts.length === 1 ? parts[0]!.data : concat(parts.map((p) => p.data), Float32Array), block.length, V, block.length - keep);
  }

  /** One run of `tokens` after `past` committed slots: the last `keep` rows' logits (vocab > 0), or their argmaxes (vocab 0). */
  private async runOnce(session: ort.InferenceSession, tokens: readonly number[], tree: TreeShape | null, past: number, keep: number, argmaxOnly: boolean): Promise<{ data: Float32Array; argmax: Int32Array | null; vocab: number }> {
    const T = tokens.length;
    const total = past + T;
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', BigInt64Array.from(tokens, (x) => BigInt(x)), [1, T]),
      seqlens_k: new ort.Tensor('int32', Int32Array.of(total - 1), [1]),
      total_sequence_length: new ort.Tensor('int32', Int32Array.of(total), []),
    };
    if (session.inputNames.includes('logits_to_keep')) feeds.logits_to_keep = new ort.Tensor('int64', BigInt64Array.of(BigInt(argmaxOnly ? -keep : keep)), []);
    if (tree) {
      feeds.position_ids = new ort.Tensor('int64', BigInt64Array.from(tree.depths, (d) => BigInt(past + d)), [1, T]);
      const bias = this.treeBias(tree.parents, past);
      feeds.attention_bias = bias instanceof Uint16Array ? new ort.Tensor('float16', bias, [1, 1, T, total]) : new ort.Tensor('float32', bias, [1, 1, T, total]);
    }
    for (let l = 0; l < this.layers; l++) {
      feeds[`past_key_values.${l}.key`] = this.keys[l]!;
      feeds[`past_key_values.${l}.value`] = this.values[l]!;
    }
    const out = await runOn(session, true, feeds, undefined, this.readBack);
    for (let l = 0; l < this.layers; l++) {
      release(this.keys[l]);
      release(this.values[l]);
      this.keys[l] = out[`present.${l}.key`]!;
      this.values[l] = out[`present.${l}.value`]!;
    }
    if (argmaxOnly) {
      // [1, rows]: without logits_to_keep every row came back; keep the last `keep`.
      const ids = out.argmax!.data as BigInt64Array;
      return { data: new Float32Array(0), argmax: Int32Array.from(ids.subarray(ids.length - keep), Number), vocab: 0 };
    }
    const logits = out.logits!;
    const V = logits.dims[2]!;
    const data = logits.data as Float32Array;
    return { data: logits.dims[1]! > keep ? data.subarray(data.length - keep * V) : data, argmax: null, vocab: V };
  }

  /**
   * Checks once, after load, that this device's attention over a long block (GroupQueryAttention's
   * prefill kernel, used from 32 tokens on) agrees with its short-block kernel: the same 48 tokens run
   * as one block and as 31 + 17 must give the same logits. On Mesa's software Vulkan (lavapipe) with
   * onnxruntime 1.30 they differ by up to 0.8 in logits (fp32 too) while short blocks match the CPU
   * exactly; a device that fails the check runs every chain in blocks of at most 31 tokens (`maxBlock`).
   * Returns the largest difference. Leaves the cache empty.
   */
  async checkLongBlocks(session: ort.InferenceSession, vocab: number): Promise<{ maxDiff: number; limited: boolean }> {
    const n = Math.min(48, this.slots);
    if (n <= SHORT_BLOCK) return { maxDiff: 0, limited: false };
    // Arbitrary but fixed ids spread over the vocabulary (a repeating pattern exercises attention).
    const ids = Array.from({ length: n }, (_, i) => (1 + ((i % 13) * 7919 + Math.floor(i / 13) * 104729)) % vocab);
    const rows = async (limit: number): Promise<Float32Array> => {
      this.reset();
      this.maxBlock = limit;
      return (await this.run(session, ids, null, { read: 'rows' })).data;
    };
    try {
      const whole = await rows(Infinity);
      const cut = await rows(SHORT_BLOCK);
      let maxDiff = 0;
      let span = 0;
      for (let i = 0; i < cut.length; i++) {
        maxDiff = Math.max(maxDiff, Math.abs(whole[i]! - cut[i]!));
        span = Math.max(span, Math.abs(cut[i]!));
      }
      // fp16 rounding differs between the two kernels; a broken kernel is off by far more.
      const limited = !(maxDiff <= (this.half ? 0.02 : 2e-3) * Math.max(span, 1));
      this.maxBlock = limited ? SHORT_BLOCK : Infinity;
      return { maxDiff, limited };
    } finally {
      this.reset();
    }
  }

  /** [T, past + T]: 0 where node i may attend (the past, itself and its ancestors), the lowest finite value elsewhere (fp16 bits for a half graph). */
  private treeBias(parents: readonly number[], past: number): Float32Array | Uint16Array {
    const T = parents.length;
    const n = T * (past + T);
    if (this.biasBuf.length < n) {
      const size = Math.max(n, 2 * this.biasBuf.length);
      this.biasBuf = this.half ? new Uint16Array(size) : new Float32Array(size);
    }
    const bias = this.biasBuf.subarray(0, n);
    const min = this.half ? MIN_HALF : MIN;
    for (let i = 0; i < T; i++) {
      const row = i * (past + T);
      bias.fill(0, row, row + past);
      bias.fill(min, row + past, row + past + T);
      for (let j = i; j !== -1; j = parents[j]!) bias[row + past + j] = 0;
    }
    return bias;
  }

  /** Keeps these nodes of the last block (increasing indices into it) as the next committed tokens. */
  commit(nodes: readonly number[]): void {
    if (nodes.some((n, j) => n >= this.pending || (j > 0 && n <= nodes[j - 1]!))) {
      throw new RangeError(`commit(): nodes ${nodes.join(',')} must be increasing indices into the last block of ${this.pending}`);
    }
    const firstMoved = nodes.findIndex((n, j) => n !== j);
    if (firstMoved >= 0) this.stale = nodes.slice(firstMoved).map((n) => this.lastTokens[n]!);
    this.count += nodes.length;
    this.pending = 0;
  }

  /** Commits `tokens` (the tokens of the kept nodes) without their K/V in place; the next block rewrites them (see `stale`). */
  commitStale(tokens: readonly number[]): void {
    this.stale = [...this.stale, ...tokens];
    this.count += tokens.length;
    this.pending = 0;
  }
}
