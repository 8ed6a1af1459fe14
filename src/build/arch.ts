// What the builder needs to know about a checkpoint's architecture, read from its config.json.
// One family is a few lines here: which tensors exist, and what differs (biases, tying, rope).
import { BuildError } from './errors';

export const FAMILIES = ['llama', 'qwen2', 'mistral'] as const;
export type Family = (typeof FAMILIES)[number];

export type RopeScaling =
  | { type: 'linear'; factor: number }
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMax: number };

export interface Arch {
  family: Family;
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  intermediate: number;
  vocab: number;
  rmsEps: number;
  ropeTheta: number;
  ropeScaling: RopeScaling | null;
  tied: boolean;
  /** Biases on q/k/v (qwen2 always; llama with attention_bias). */
  qkvBias: boolean;
  /** Bias on o_proj (llama with attention_bias). */
  oBias: boolean;
  maxPositions: number;
  /** Mistral's sliding window: attention is exact as long as the context stays within it. */
  slidingWindow: number | null;
}

/** Upper bounds far above any real decoder: a config claiming more is damaged or hostile (it would only exhaust memory). */
const LIMITS: Record<string, number> = {
  hidden_size: 65536, num_attention_heads: 1024, num_key_value_heads: 1024, head_dim: 1024, num_hidden_layers: 1024,
  intermediate_size: 262144, vocab_size: 4_194_304, max_position_embeddings: 10_485_760,
};

function num(cfg: Record<string, unknown>, key: string, file: string, opts: { int?: boolean; fallback?: number } = {}): number {
  const v = cfg[key] ?? opts.fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || (opts.int !== false && !Number.isInteger(v))) {
    throw new BuildError(`${file}: "${key}" must be a positive ${opts.int === false ? 'number' : 'integer'} (found ${JSON.stringify(v)}).`, 'Use the config.json saved with the checkpoint.');
  }
  const max = LIMITS[key];
  if (max !== undefined && v > max) throw new BuildError(`${file}: "${key}" is ${v}, beyond any real model (at most ${max}).`, 'The config.json is damaged: use the one saved with the checkpoint.');
  return v;
}

function ropeScaling(cfg: Record<string, unknown>, file: string): RopeScaling | null {
  const r = cfg.rope_scaling;
  if (r === undefined || r === null) return null;
  if (typeof r !== 'object') throw new BuildError(`${file}: "rope_scaling" must be an object or null.`, 'Use the config.json saved with the checkpoint.');
  const o = r as Record<string, unknown>;
  const type = o.rope_type ?? o.type;
  if (type === 'default') return null;
  const factor = num(o, 'factor', `${file} rope_scaling`, { int: false });
  if (type === 'linear') return { type, factor };
  if (type === 'llama3') {
    return {
      type, factor,
      lowFreqFactor: num(o, 'low_freq_factor', `${file} rope_scaling`, { int: false }),
      highFreqFactor: num(o, 'high_freq_factor', `${file} rope_scaling`, { int: false }),
      originalMax: num(o, 'original_max_position_embeddings', `${file} rope_scaling`),
    };
  }
  throw new BuildError(`${file}: rope_scaling type ${JSON.stringify(type)} is not supported; the builder supports linear and llama3.`, 'Pick a checkpoint without dynamic/yarn rope scaling.');
}

/** Reads the architecture from a parsed config.json; unknown families are a clear error. */
export function readArch(cfg: Record<string, unknown>, file: string): Arch {
  const type = cfg.model_type;
  if (typeof type !== 'string' || !(FAMILIES as readonly string[]).includes(type)) {
    throw new BuildError(`${file}: model_type ${JSON.stringify(type)} is not supported; the builder supports ${FAMILIES.join(', ')} (Llama-family decoders).`,
      'Pick a checkpoint of a supported architecture (e.g. Qwen2.5-Coder, DeepSeek-Coder, CodeLlama).');
  }
  const family = type as Family;
  const hidden = num(cfg, 'hidden_size', file);
  const heads = num(cfg, 'num_attention_heads', file);
  const kvHeads = num(cfg, 'num_key_value_heads', file, { fallback: heads });
  const headDim = num(cfg, 'head_dim', file, { fallback: Math.floor(hidden / heads) });
  if (heads % kvHeads !== 0) throw new BuildError(`${file}: num_attention_heads ${heads} is not a multiple of num_key_value_heads ${kvHeads}.`, 'Use the config.json saved with the checkpoint.');
  if (headDim % 2 !== 0) throw new BuildError(`${file}: head_dim ${headDim} must be even for rotary embeddings.`, 'Use the config.json saved with the checkpoint.');
  const act = cfg.hidden_act ?? 'silu';
  if (act !== 'silu') throw new BuildError(`${file}: hidden_act ${JSON.stringify(act)} is not supported; Llama-family decoders use silu.`, 'Pick a checkpoint with a SwiGLU MLP.');
  const attnBias = cfg.attention_bias === true;
  if (cfg.mlp_bias === true) throw new BuildError(`${file}: mlp_bias is not supported.`, 'Pick a checkpoint without MLP biases.');
  const sw = cfg.sliding_window;
  return {
    family, hidden, heads, kvHeads, headDim,
    layers: num(cfg, 'num_hidden_layers', file),
    intermediate: num(cfg, 'intermediate_size', file),
    vocab: num(cfg, 'vocab_size', file),
    rmsEps: num(cfg, 'rms_norm_eps', file, { int: false, fallback: 1e-6 }),
    ropeTheta: num(cfg, 'rope_theta', file, { int: false, fallback: 10000 }),
    ropeScaling: ropeScaling(cfg, file),
    tied: cfg.tie_word_embeddings === true,
    qkvBias: family === 'qwen2' || attnBias,
    oBias: family !== 'qwen2' && attnBias,
    maxPositions: num(cfg, 'max_position_embeddings', file, { fallback: 2048 }),
    slidingWindow: family !== 'llama' && typeof sw === 'number' && cfg.use_sliding_window !== false ? sw : null,
  };
}

/** Rotary inverse frequencies [headDim / 2], with the checkpoint's rope scaling applied. */
export function inverseFrequencies(a: Arch): Float64Array {
  const half = a.headDim / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = 1 / a.ropeTheta ** ((2 * i) / a.headDim);
  const s = a.ropeScaling;
  if (!s) return inv;
  if (s.type === 'linear') return inv.map((f) => f / s.factor);
  const lowWavelen = s.originalMax / s.lowFreqFactor;
  const highWavelen = s.originalMax / s.highFreqFactor;
  return inv.map((f) => {
    const wavelen = (2 * Math.PI) / f;
    if (wavelen < highWavelen) return f;
    if (wavelen > lowWavelen) return f / s.factor;
    const smooth = (s.originalMax / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
    return (1 - smooth) * (f / s.factor) + smooth * f;
  });
}

/** cos and sin caches [positions, headDim / 2] for positions 0..n-1 (fp32 as the reference computes them). */
export function rotaryCaches(a: Arch, n: number): { cos: Float32Array; sin: Float32Array } {
  const inv = Float32Array.from(inverseFrequencies(a));
  const half = inv.length;
  const cos = new Float32Array(n * half);
  const sin = new Float32Array(n * half);
  for (let p = 0; p < n; p++) {
    for (let i = 0; i < half; i++) {
      const angle = Math.fround(p * inv[i]!);
      cos[p * half + i] = Math.cos(angle);
      sin[p * half + i] = Math.sin(angle);
    }
  }
  return { cos, sin };
}

/** HF tensor names of one layer (the same in every supported family). */
export function layerTensor(l: number, part: 'q' | 'k' | 'v' | 'o' | 'gate' | 'up' | 'down', kind: 'weight' | 'bias' = 'weight'): string {
  const mod = part === 'gate' || part === 'up' || part === 'down' ? 'mlp' : 'self_attn';
  return `model.layers.${l}.${mod}.${part}_proj.${kind}`;
}
