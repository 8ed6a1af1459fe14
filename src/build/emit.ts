// Emits a Llama-family decoder as ONNX graphs, piece by piece (embedding, norms, attention, MLP,
// head), in the style of onnxruntime-genai's model builder. Weights are read from the checkpoint
// once, stored once in the shared file, and referenced by every graph that uses them.
import { Arch, layerTensor, rotaryCaches } from './arch';
import { DT, Graph, StoredTensor } from './onnx';
import { Checkpoint } from './safetensors';
import { Dtype, quantise, transpose, WeightStore } from './weights';

const MS = 'com.microsoft';

/** How one linear layer is stored. */
type Linear =
  | { kind: 'float'; w: StoredTensor; half: boolean; bias?: StoredTensor; bias16?: StoredTensor }
  | { kind: 'nbits'; b: StoredTensor; scales: StoredTensor; scales16?: StoredTensor; n: number; k: number; bits: 4 | 8; bias?: StoredTensor; bias16?: StoredTensor };

export interface EmitOptions {
  dtype: Dtype;
  /** Positions the rotary caches cover: the context plus headroom for a token tree (the fast graphs' KV slots). */
  kvSlots: number;
  /** int8/int4: quantise the LM head as well (faster; measured in the bench). */
  quantiseHead: boolean;
  /** MatMulNBits accuracy level: 4 = int8 activations on CPU (0 is ~20x slower there). */
  accuracyLevel: number;
  blockSize: number;
  /**
   * The build has fp16-compute graphs (the GPU's fast graphs): biases, quantisation scales and the
   * rotary caches are stored in fp16 as well, as MatMulNBits, GroupQueryAttention and RotaryEmbedding
   * take them in the activations' type.
   */
  halfCompute?: boolean;
}

export class Emitter {
  private linears = new Map<string, Linear>();
  private readonly qDim: number;
  private readonly kvDim: number;
  /**
   * The graph being emitted computes in fp16 (`computing`): matmuls, attention (fp16 K/V) and the MLP
   * take fp16 activations; the residual stream, the RMSNorms and the logits stay fp32, and each block's
   * input and output are cast at its edges.
   */
  private half = false;

  constructor(readonly arch: Arch, private readonly ckpt: Checkpoint, private readonly store: WeightStore, readonly opts: EmitOptions) {
    this.qDim = arch.heads * arch.headDim;
    this.kvDim = arch.kvHeads * arch.headDim;
  }

  /** Emits `make`'s graph with fp16 activations (see `half`); needs `halfCompute` in the options. */
  computing<T>(half: boolean, make: () => T): T {
    if (half && !this.opts.halfCompute) throw new Error('Emitter: fp16 compute needs EmitOptions.halfCompute');
    const was = this.half;
    this.half = half;
    try {
      return make();
    } finally {
      this.half = was;
    }
  }

  /** x in the activations' type of the graph being emitted (an fp32 tensor cast to fp16 when computing in fp16). */
  private toCompute(g: Graph, x: string): string {
    return this.half ? g.op('Cast', [x], { to: DT.FLOAT16 }) : x;
  }

  /** x (in the activations' type) as fp32, for the residual stream and the norms. */
  private toFloat(g: Graph, x: string): string {
    return this.half ? g.op('Cast', [x], { to: DT.FLOAT }) : x;
  }

  // ------------------------------------------------------------------ weights

  private read(name: string, shape: number[]): Float32Array {
    return this.ckpt.read(name, shape);
  }

  private norm(name: string): StoredTensor {
    return this.store.get(name) ?? this.store.float(name, [this.arch.hidden], this.read(name, [this.arch.hidden]));
  }

  /** Stores a linear layer given in HF layout [n, k] (out, in), in the build's precision. */
  private storeLinear(key: string, load: () => { w: Float32Array; n: number; k: number; bias?: Float32Array }, quantisable = true): Linear {
    const have = this.linears.get(key);
    if (have) return have;
    const { w, n, k, bias } = load();
    const b = bias ? this.store.float(`${key}.bias`, [n], bias) : undefined;
    const b16 = bias && this.opts.halfCompute ? { bias16: this.store.half(`${key}.bias16`, [n], bias) } : {};
    const dt = this.opts.dtype;
    let lin: Linear;
    if ((dt === 'int8' || dt === 'int4') && quantisable) {
      const bits = dt === 'int8' ? 8 : 4;
      const q = quantise(w, n, k, bits, this.opts.blockSize);
      const blocks = k / this.opts.blockSize;
      lin = {
        kind: 'nbits', n, k, bits,
        b: this.store.put(`${key}.qweight`, DT.UINT8, [n, blocks, (this.opts.blockSize * bits) / 8], q.packed),
        scales: this.store.float(`${key}.scales`, [n * blocks], q.scales),
        // The steps are fp16-rounded already: the fp16 copy holds the same numbers.
        ...(this.opts.halfCompute ? { scales16: this.store.half(`${key}.scales16`, [n * blocks], q.scales) } : {}),
        ...(b ? { bias: b } : {}), ...b16,
      };
    } else {
      const wt = transpose(w, n, k);
      const half = dt !== 'fp32';
      lin = { kind: 'float', half, w: half ? this.store.half(`${key}.weight`, [k, n], wt) : this.store.float(`${key}.weight`, [k, n], wt), ...(b ? { bias: b } : {}), ...b16 };
    }
    this.linears.set(key, lin);
    return lin;
  }

  private qkv(l: number): Linear {
    const a = this.arch;
    return this.storeLinear(`layers.${l}.qkv`, () => {
      const q = this.read(layerTensor(l, 'q'), [this.qDim, a.hidden]);
      const k = this.read(layerTensor(l, 'k'), [this.kvDim, a.hidden]);
      const v = this.read(layerTensor(l, 'v'), [this.kvDim, a.hidden]);
      const w = new Float32Array(q.length + k.length + v.length);
      w.set(q);
      w.set(k, q.length);
      w.set(v, q.length + k.length);
      let bias: Float32Array | undefined;
      if (a.qkvBias) {
        bias = new Float32Array(this.qDim + 2 * this.kvDim);
        bias.set(this.read(layerTensor(l, 'q', 'bias'), [this.qDim]));
        bias.set(this.read(layerTensor(l, 'k', 'bias'), [this.kvDim]), this.qDim);
        bias.set(this.read(layerTensor(l, 'v', 'bias'), [this.kvDim]), this.qDim + this.kvDim);
      }
      return { w, n: this.qDim + 2 * this.kvDim, k: a.hidden, ...(bias ? { bias } : {}) };
    });
  }

  private oProj(l: number): Linear {
    const a = this.arch;
    return this.storeLinear(`layers.${l}.o`, () => ({
      w: this.read(layerTensor(l, 'o'), [a.hidden, this.qDim]), n: a.hidden, k: this.qDim,
      ...(a.oBias ? { bias: this.read(layerTensor(l, 'o', 'bias'), [a.hidden]) } : {}),
    }));
  }

  private gateUp(l: number): Linear {
    const a = this.arch;
    return this.storeLinear(`layers.${l}.gate_up`, () => {
      const g = this.read(layerTensor(l, 'gate'), [a.intermediate, a.hidden]);
      const u = this.read(layerTensor(l, 'up'), [a.intermediate, a.hidden]);
      const w = new Float32Array(g.length + u.length);
      w.set(g);
      w.set(u, g.length);
      return { w, n: 2 * a.intermediate, k: a.hidden };
    });
  }

  private down(l: number): Linear {
    const a = this.arch;
    return this.storeLinear(`layers.${l}.down`, () => ({ w: this.read(layerTensor(l, 'down'), [a.hidden, a.intermediate]), n: a.hidden, k: a.intermediate }));
  }

  /** The embedding table [vocab, hidden]: fp32 in fp32 builds, else fp16 (gathered rows are upcast). */
  private embedTable(): StoredTensor {
    const a = this.arch;
    const name = 'model.embed_tokens.weight';
    return this.store.get(name) ?? (this.opts.dtype === 'fp32'
      ? this.store.float(name, [a.vocab, a.hidden], this.read(name, [a.vocab, a.hidden]))
      : this.store.half(name, [a.vocab, a.hidden], this.read(name, [a.vocab, a.hidden])));
  }

  private headSource(): string {
    if (this.arch.tied) return 'model.embed_tokens.weight';
    if (!this.ckpt.has('lm_head.weight')) return 'model.embed_tokens.weight';
    return 'lm_head.weight';
  }

  /** The rotary caches [slots, headDim / 2], in the activations' type (fp16 ones for fp16 graphs). */
  private rope(): { cos: StoredTensor; sin: StoredTensor } {
    const [c, s] = this.half ? ['rope.cos16', 'rope.sin16'] : ['rope.cos', 'rope.sin'];
    const have = this.store.get(c);
    if (have) return { cos: have, sin: this.store.get(s)! };
    const { cos, sin } = rotaryCaches(this.arch, this.opts.kvSlots);
    const dims = [this.opts.kvSlots, this.arch.headDim / 2];
    if (this.half) return { cos: this.store.half(c, dims, cos), sin: this.store.half(s, dims, sin) };
    return { cos: this.store.float(c, dims, cos), sin: this.store.float(s, dims, sin) };
  }

  // ------------------------------------------------------------------ graph pieces

  /** x [.., k] -> [.., n] (named `out` when given) */
  linear(g: Graph, x: string, lin: Linear, out?: string): string {
    // fp16 graphs read the fp16 copies of biases and scales (the inputs share the activations' type).
    const bias = this.half ? lin.bias16 : lin.bias;
    if (lin.kind === 'nbits') {
      const inputs = [x, g.stored(lin.b), g.stored(this.half ? lin.scales16! : lin.scales)];
      if (bias) inputs.push('', '', g.stored(bias));
      return g.op('MatMulNBits', inputs, { K: lin.k, N: lin.n, bits: lin.bits, block_size: this.opts.blockSize, accuracy_level: this.opts.accuracyLevel }, MS, out);
    }
    const w = lin.half === this.half ? g.stored(lin.w) : g.op('Cast', [g.stored(lin.w)], { to: this.half ? DT.FLOAT16 : DT.FLOAT });
    const y = g.op('MatMul', [x, w]);
    return bias ? g.op('Add', [y, g.stored(bias)]) : y;
  }

  /** input_ids [B, S] -> hidden [B, S, hidden] */
  embed(g: Graph, ids: string): string {
    const table = this.embedTable();
    const rows = g.op('Gather', [g.stored(table), ids], { axis: 0 });
    return table.dataType === DT.FLOAT ? rows : g.op('Cast', [rows], { to: DT.FLOAT });
  }

  /** RMSNorm of x with the named weight. */
  rmsNorm(g: Graph, x: string, weight: string): string {
    return g.op('SimplifiedLayerNormalization', [x, g.stored(this.norm(weight))], { axis: -1, epsilon: { float: this.arch.rmsEps }, stash_type: 1 });
  }

  /** RMSNorm of (x + residual): returns [normed, x + residual]. */
  skipNorm(g: Graph, x: string, residual: string, weight: string): [string, string] {
    const outs = g.node('SkipSimplifiedLayerNormalization', [x, residual, g.stored(this.norm(weight))], { epsilon: { float: this.arch.rmsEps } }, { domain: MS, outputs: 4 });
    return [outs[0]!, outs[3]!];
  }

  inputNorm(l: number): string {
    return `model.layers.${l}.input_layernorm.weight`;
  }

  postNorm(l: number): string {
    return `model.layers.${l}.post_attention_layernorm.weight`;
  }

  /** SwiGLU MLP: x [.., hidden] -> [.., hidden] */
  mlp(g: Graph, l: number, x: string): string {
    const I = this.arch.intermediate;
    const gu = this.linear(g, this.toCompute(g, x), this.gateUp(l));
    const [gate, up] = g.node('Split', [gu, g.ints([I, I])], { axis: -1 }, { outputs: 2 });
    const act = g.op('Mul', [gate!, g.op('Sigmoid', [gate!])]);
    return this.toFloat(g, this.linear(g, g.op('Mul', [act, up!]), this.down(l)));
  }

  /**
   * Attention with an explicit mask and growing past/present (the standard and layered graphs):
   * x [B, S, hidden], positions [B, S], mask bool or additive float [B, 1, S, P + S].
   */
  attentionExplicit(g: Graph, l: number, x: string, positions: string, mask: string, pastK: string, pastV: string, presK: string, presV: string): string {
    const a = this.arch;
    const qkv = this.linear(g, x, this.qkv(l));
    const [q, k, v] = g.node('Split', [qkv, g.ints([this.qDim, this.kvDim, this.kvDim])], { axis: -1 }, { outputs: 3 });
    const { cos, sin } = this.rope();
    const qr = g.op('RotaryEmbedding', [q!, g.stored(cos), g.stored(sin), positions], { interleaved: 0, num_heads: a.heads });
    const kr = g.op('RotaryEmbedding', [k!, g.stored(cos), g.stored(sin), positions], { interleaved: 0, num_heads: a.kvHeads });
    const [y] = g.node('Attention', [qr, kr, v!, mask, pastK, pastV], { q_num_heads: a.heads, kv_num_heads: a.kvHeads, scale: { float: 1 / Math.sqrt(a.headDim) } },
      { outputs: [`attn_${l}`, presK, presV] });
    return this.linear(g, y!, this.oProj(l));
  }

  /**
   * GroupQueryAttention on a KV buffer allocated once (fed as past and fetched as present: updated
   * in place). A chain's rotary is fused into the operator, which takes each row's position from
   * seqlens_k. A token tree's nodes sit at explicit positions (their depths): those go through
   * RotaryEmbedding ops before the attention (GroupQueryAttention's fused rotary ignores position_ids
   * on WebGPU), with an additive bias for the tree's mask.
   */
  attentionGqa(g: Graph, l: number, x: string, io: { seqlensK: string; total: string; positions?: string; bias?: string }, pastK: string, pastV: string, presK: string, presV: string): string {
    const a = this.arch;
    const qkv = this.linear(g, this.toCompute(g, x), this.qkv(l));
    const { cos, sin } = this.rope();
    const attrs = { num_heads: a.heads, kv_num_heads: a.kvHeads, rotary_interleaved: 0, scale: { float: 1 / Math.sqrt(a.headDim) } };
    let inputs: string[];
    if (io.positions) {
      const [q, k, v] = g.node('Split', [qkv, g.ints([this.qDim, this.kvDim, this.kvDim])], { axis: -1 }, { outputs: 3 });
      const qr = g.op('RotaryEmbedding', [q!, g.stored(cos), g.stored(sin), io.positions], { interleaved: 0, num_heads: a.heads });
      const kr = g.op('RotaryEmbedding', [k!, g.stored(cos), g.stored(sin), io.positions], { interleaved: 0, num_heads: a.kvHeads });
      inputs = [qr, kr, v!, pastK, pastV, io.seqlensK, io.total, '', '', '', io.bias ?? ''];
    } else {
      inputs = [qkv, '', '', pastK, pastV, io.seqlensK, io.total, g.stored(cos), g.stored(sin)];
      if (io.bias) inputs.push('', io.bias);
    }
    const [y] = g.node('GroupQueryAttention', inputs, { ...attrs, do_rotary: io.positions ? 0 : 1 }, { domain: MS, outputs: [`attn_${l}`, presK, presV] });
    return this.toFloat(g, this.linear(g, y!, this.oProj(l)));
  }

  /** Final hidden [B, S, hidden] (already normed) -> logits [B, S, vocab], named `out`. `batch1`: B is 1 (no shape plumbing). */
  head(g: Graph, x: string, batch1: boolean, out = 'logits'): string {
    const a = this.arch;
    const src = this.headSource();
    const dt = this.opts.dtype;
    // An fp16 graph's head multiplies in fp16 and casts the logits to fp32 (what sampling and argmax read).
    const named = (y: string) => (this.half ? g.op('Cast', [y], { to: DT.FLOAT }, undefined, out) : y);
    if ((dt === 'int8' || dt === 'int4') && this.opts.quantiseHead) {
      const lin = this.storeLinear('lm_head', () => ({ w: this.read(src, [a.vocab, a.hidden]), n: a.vocab, k: a.hidden }));
      return this.half ? named(this.linear(g, this.toCompute(g, x), lin)) : this.linear(g, x, lin, out);
    }
    // Gemm with transB reads the [vocab, hidden] table as it is: a tied head shares the embedding.
    let table: StoredTensor;
    if (src === 'model.embed_tokens.weight') table = this.embedTable();
    else table = this.store.get(src) ?? (dt === 'fp32' ? this.store.float(src, [a.vocab, a.hidden], this.read(src, [a.vocab, a.hidden])) : this.store.half(src, [a.vocab, a.hidden], this.read(src, [a.vocab, a.hidden])));
    const want = this.half ? DT.FLOAT16 : DT.FLOAT;
    const w = table.dataType === want ? g.stored(table) : g.op('Cast', [g.stored(table)], { to: want });
    const flat = g.op('Reshape', [this.toCompute(g, x), g.ints([-1, a.hidden])]);
    const y = g.op('Gemm', [flat, w], { transB: 1 });
    const shape = batch1 ? g.ints([1, -1, a.vocab]) : g.op('Concat', [g.op('Slice', [g.op('Shape', [x]), g.ints([0]), g.ints([2])]), g.ints([a.vocab])], { axis: 0 });
    return this.half ? named(g.op('Reshape', [y, shape])) : g.op('Reshape', [y, shape], {}, undefined, out);
  }

  /**
   * Attention that reads a layer's KV buffer [1, kvHeads, C, headDim] without writing it (the CPU
   * graph). `bias` [1, 1, group * S, C + S] (additive; the engine's [S, C + S] tiled once per query
   * head of a group) masks the slots after the committed tokens and gives the block its causal or tree
   * structure; `split` [C, S] cuts the probabilities into the buffer's part and the block's. The
   * block's rotated K and its V come out as `newK`/`newV` [1, kvHeads, S, headDim] for the engine to
   * write into the buffer; the buffer is not an output (onnxruntime-node copies every output of a run
   * into a fresh buffer, so a cache fetched back as a present costs a copy of the whole cache each
   * step). q, k and v are split head-major ([1, heads, S, headDim]) and rotated so, which makes the
   * query heads sharing a K/V head the rows of one matrix by a Reshape alone. Scores against the
   * buffer's C slots and against the block's own keys, one softmax over both; no op copies the buffer.
   * Every block length takes this one path: builder 4 wrapped each layer's attention in an If that gave
   * blocks of 32 tokens or more the buffer and block concatenated once, and on the 0.5B stand-in the 24
   * Ifs cost a decode step more than that form saved a prefill (the ops ran slower inside the branch).
   */
  attentionOverBuffer(g: Graph, l: number, x: string, io: { positions: string; bias: string; split: string }, pastK: string, pastV: string, newK: string, newV: string): string {
    const a = this.arch;
    const D = a.headDim;
    const qkv = this.linear(g, x, this.qkv(l));
    const [q, k] = g.node('Split', [g.op('Transpose', [g.op('Reshape', [qkv, g.ints([1, -1, a.heads + 2 * a.kvHeads, D])])], { perm: [0, 2, 1, 3] }), g.ints([a.heads, a.kvHeads, a.kvHeads])],
      { axis: 1 }, { outputs: [`q_${l}`, `k_${l}`, newV] });
    const { cos, sin } = this.rope();
    const qr = g.op('RotaryEmbedding', [q!, g.stored(cos), g.stored(sin), io.positions], { interleaved: 0 });
    const kn = g.node('RotaryEmbedding', [k!, g.stored(cos), g.stored(sin), io.positions], { interleaved: 0 }, { outputs: [newK] })[0]!;
    const scale = { float: 1 / Math.sqrt(D) };
    // Query heads sharing a K/V head become rows of one matrix: [1, kvHeads, group * S, D]; back to [1, heads, S, D] after.
    const qg = g.op('Reshape', [qr, g.ints([1, a.kvHeads, -1, D])]);
    const scores = g.op('Concat', [g.op('FusedMatMul', [qg, pastK], { transB: 1, alpha: scale }, MS), g.op('FusedMatMul', [qg, kn], { transB: 1, alpha: scale }, MS)], { axis: -1 });
    const probs = g.op('Softmax', [g.op('Add', [scores, io.bias])], { axis: -1 });
    const [pp, pb] = g.node('Split', [probs, io.split], { axis: 3 }, { outputs: 2 });
    const o = g.op('Reshape', [g.op('Add', [g.op('MatMul', [pp!, pastV]), g.op('MatMul', [pb!, newV])]), g.ints([1, a.heads, -1, D])]); // [1, heads, S, D]
    const y = g.op('Reshape', [g.op('Transpose', [o], { perm: [0, 2, 1, 3] }), g.ints([1, -1, this.qDim])]);
    return this.linear(g, y, this.oProj(l));
  }

  /** K and V of layer l for rows x (CALM's propagation): [B, kvHeads, S, headDim] each. */
  keyValue(g: Graph, l: number, x: string, positions: string, keyName: string, valueName: string): void {
    const a = this.arch;
    const n = this.rmsNorm(g, x, this.inputNorm(l));
    const qkv = this.linear(g, n, this.qkv(l));
    const [, k, v] = g.node('Split', [qkv, g.ints([this.qDim, this.kvDim, this.kvDim])], { axis: -1 }, { outputs: 3 });
    const { cos, sin } = this.rope();
    const kr = g.op('RotaryEmbedding', [k!, g.stored(cos), g.stored(sin), positions], { interleaved: 0, num_heads: a.kvHeads });
    const heads = (t: string, out: string) => g.node('Transpose', [g.op('Reshape', [t, g.ints([0, 0, a.kvHeads, a.headDim])])], { perm: [0, 2, 1, 3] }, { outputs: [out] });
    heads(kr, keyName);
    heads(v!, valueName);
  }
}
