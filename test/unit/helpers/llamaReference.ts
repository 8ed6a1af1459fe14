// A plain forward pass of a Llama / Qwen2 decoder over HF tensors, written from the transformers
// modelling code's formulas and independently of src/build: the builder's graphs must match it,
// so a wrong rotary layout, bias, scaling or tying is caught. Slow (plain loops), for tiny models.

type Tensors = Map<string, { shape: number[]; data: Float32Array }>;

export interface RefConfig {
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  intermediate: number;
  vocab: number;
  eps: number;
  theta: number;
  tied: boolean;
  ropeScaling: Record<string, unknown> | null;
}

export function refConfig(cfg: Record<string, unknown>): RefConfig {
  const n = (k: string) => cfg[k] as number;
  return {
    hidden: n('hidden_size'), layers: n('num_hidden_layers'), heads: n('num_attention_heads'), kvHeads: n('num_key_value_heads'),
    headDim: n('head_dim') ?? n('hidden_size') / n('num_attention_heads'), intermediate: n('intermediate_size'), vocab: n('vocab_size'),
    eps: n('rms_norm_eps'), theta: n('rope_theta'), tied: cfg.tie_word_embeddings === true, ropeScaling: (cfg.rope_scaling as Record<string, unknown> | null) ?? null,
  };
}

/** transformers' _compute_default / _compute_linear / _compute_llama3 rope parameters, in float64. */
function invFreq(c: RefConfig): number[] {
  const base = Array.from({ length: c.headDim / 2 }, (_, i) => 1 / Math.pow(c.theta, (2 * i) / c.headDim));
  const s = c.ropeScaling;
  if (!s) return base;
  const type = (s.rope_type ?? s.type) as string;
  const factor = s.factor as number;
  if (type === 'linear') return base.map((f) => f / factor);
  const low = s.low_freq_factor as number;
  const high = s.high_freq_factor as number;
  const orig = s.original_max_position_embeddings as number;
  return base.map((f) => {
    const wl = (2 * Math.PI) / f;
    if (wl < orig / high) return f;
    if (wl > orig / low) return f / factor;
    const smooth = (orig / wl - low) / (high - low);
    return (1 - smooth) * (f / factor) + smooth * f;
  });
}

function linear(x: Float32Array, w: { data: Float32Array; shape: number[] }, bias?: { data: Float32Array }): Float32Array {
  const [out, inn] = w.shape as [number, number];
  const y = new Float32Array(out);
  for (let o = 0; o < out; o++) {
    let s = bias ? bias.data[o]! : 0;
    for (let i = 0; i < inn; i++) s += w.data[o * inn + i]! * x[i]!;
    y[o] = s;
  }
  return y;
}

function rmsNorm(x: Float32Array, w: Float32Array, eps: number): Float32Array {
  let ss = 0;
  for (const v of x) ss += v * v;
  const r = 1 / Math.sqrt(ss / x.length + eps);
  return x.map((v, i) => v * r * w[i]!);
}

/** rotate_half layout: pairs (i, i + d/2). */
function rope(v: Float32Array, heads: number, d: number, pos: number, inv: number[]): void {
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < d / 2; i++) {
      const a = pos * inv[i]!;
      const c = Math.cos(a);
      const s = Math.sin(a);
      const x1 = v[h * d + i]!;
      const x2 = v[h * d + i + d / 2]!;
      v[h * d + i] = x1 * c - x2 * s;
      v[h * d + i + d / 2] = x2 * c + x1 * s;
    }
  }
}

/** Logits [T, vocab] of a causal pass over `ids` (positions 0..T-1). */
export function referenceLogits(t: Tensors, c: RefConfig, ids: number[]): Float32Array[] {
  const get = (n: string) => {
    const v = t.get(n);
    if (!v) throw new Error(`reference: no tensor ${n}`);
    return v;
  };
  const opt = (n: string) => t.get(n);
  const inv = invFreq(c);
  const emb = get('model.embed_tokens.weight');
  let xs = ids.map((id) => emb.data.slice(id * c.hidden, (id + 1) * c.hidden));
  const group = c.heads / c.kvHeads;
  const d = c.headDim;
  for (let l = 0; l < c.layers; l++) {
    const p = `model.layers.${l}`;
    const keys: Float32Array[] = [];
    const vals: Float32Array[] = [];
    const qs: Float32Array[] = [];
    xs.forEach((x, pos) => {
      const n = rmsNorm(x, get(`${p}.input_layernorm.weight`).data, c.eps);
      const q = linear(n, get(`${p}.self_attn.q_proj.weight`), opt(`${p}.self_attn.q_proj.bias`));
      const k = linear(n, get(`${p}.self_attn.k_proj.weight`), opt(`${p}.self_attn.k_proj.bias`));
      const v = linear(n, get(`${p}.self_attn.v_proj.weight`), opt(`${p}.self_attn.v_proj.bias`));
      rope(q, c.heads, d, pos, inv);
      rope(k, c.kvHeads, d, pos, inv);
      qs.push(q);
      keys.push(k);
      vals.push(v);
    });
    xs = xs.map((x, pos) => {
      const att = new Float32Array(c.heads * d);
      for (let h = 0; h < c.heads; h++) {
        const kh = Math.floor(h / group);
        const scores = Array.from({ length: pos + 1 }, (_, j) => {
          let s = 0;
          for (let i = 0; i < d; i++) s += qs[pos]![h * d + i]! * keys[j]![kh * d + i]!;
          return s / Math.sqrt(d);
        });
        const m = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - m));
        const z = e.reduce((a, b) => a + b, 0);
        for (let j = 0; j <= pos; j++) for (let i = 0; i < d; i++) att[h * d + i]! += (e[j]! / z) * vals[j]![kh * d + i]!;
      }
      const o = linear(att, get(`${p}.self_attn.o_proj.weight`), opt(`${p}.self_attn.o_proj.bias`));
      const r = x.map((v, i) => v + o[i]!);
      const n2 = rmsNorm(r, get(`${p}.post_attention_layernorm.weight`).data, c.eps);
      const g = linear(n2, get(`${p}.mlp.gate_proj.weight`));
      const u = linear(n2, get(`${p}.mlp.up_proj.weight`));
      const act = g.map((v, i) => (v / (1 + Math.exp(-v))) * u[i]!);
      const dn = linear(act, get(`${p}.mlp.down_proj.weight`));
      return r.map((v, i) => v + dn[i]!);
    });
  }
  const head = c.tied ? emb : get('lm_head.weight');
  return xs.map((x) => linear(rmsNorm(x, get('model.norm.weight').data, c.eps), head));
}
