// The models users pick for local FIM completion, as quick-pick presets. Facts (repos, shapes, FIM
// formats) come from shared/notes/real-models.md; where the notes give no shape, the parameter
// count is the one in the model's name and says so.
import type { Dtype } from '../../build/weights';
import type { FimFamily } from '../tokenizer';

export type Device = 'cpu' | 'gpu';

export interface Preset {
  id: string;
  label: string;
  repo: string;
  revision: string;
  /** Besides the safetensors weights (single file or shards, found through model.safetensors.index.json). */
  files: readonly string[];
  optionalFiles: readonly string[];
  /** null: no FIM tokens; the prompt is the prefix alone. */
  fim: FimFamily | null;
  params: { count: number; from: 'shape' | 'name' };
  /** For the KV cache estimate, where the notes give it. */
  shape?: { layers: number; kvHeads: number; headDim: number };
  /** A preset with the same tokenizer to draft for this one. */
  draft?: string;
  note?: string;
}

/** Files every checkpoint needs besides its weights. */
export const CHECKPOINT_FILES = ['config.json', 'tokenizer.json'] as const;
export const CHECKPOINT_OPTIONAL = ['tokenizer_config.json', 'generation_config.json', 'model.safetensors.index.json'] as const;

const base = { revision: 'main', files: CHECKPOINT_FILES, optionalFiles: CHECKPOINT_OPTIONAL };

/** Qwen2.5-Coder-0.5B's parameters from its shape: 24 layers, hidden 896, 14/2 heads of 64, intermediate 4864, vocab 151936, tied, q/k/v biases. */
export function qwen05Params(): number {
  const [h, l, q, kv, inter, vocab] = [896, 24, 14 * 64, 2 * 64, 4864, 151936];
  const attn = h * q + 2 * h * kv + q * h + q + 2 * kv;
  const mlp = 3 * h * inter;
  return vocab * h + l * (attn + mlp + 2 * h) + h;
}

export const PRESETS: readonly Preset[] = [
  {
    ...base, id: 'qwen2.5-coder-0.5b', label: 'Qwen2.5-Coder 0.5B base', repo: 'Qwen/Qwen2.5-Coder-0.5B', fim: 'qwen2.5-coder',
    params: { count: qwen05Params(), from: 'shape' }, shape: { layers: 24, kvHeads: 2, headDim: 64 },
    note: 'fastest; also the draft model of the larger Qwen2.5-Coder presets',
  },
  {
    ...base, id: 'qwen2.5-coder-1.5b', label: 'Qwen2.5-Coder 1.5B base', repo: 'Qwen/Qwen2.5-Coder-1.5B', fim: 'qwen2.5-coder',
    params: { count: 1.5e9, from: 'name' }, shape: { layers: 28, kvHeads: 2, headDim: 128 }, draft: 'qwen2.5-coder-0.5b',
  },
  {
    ...base, id: 'qwen2.5-coder-3b', label: 'Qwen2.5-Coder 3B base', repo: 'Qwen/Qwen2.5-Coder-3B', fim: 'qwen2.5-coder',
    params: { count: 3e9, from: 'name' }, draft: 'qwen2.5-coder-0.5b',
  },
  {
    ...base, id: 'qwen2.5-coder-7b', label: 'Qwen2.5-Coder 7B base', repo: 'Qwen/Qwen2.5-Coder-7B', fim: 'qwen2.5-coder',
    params: { count: 7e9, from: 'name' }, draft: 'qwen2.5-coder-0.5b',
  },
  {
    ...base, id: 'deepseek-coder-1.3b', label: 'DeepSeek-Coder 1.3B base', repo: 'deepseek-ai/deepseek-coder-1.3b-base', fim: 'deepseek-coder',
    params: { count: 1.3e9, from: 'name' }, shape: { layers: 24, kvHeads: 16, headDim: 128 },
    note: 'llama architecture, untied head, linear rope scaling ×4',
  },
  {
    ...base, id: 'layerskip-llama3.2-1b', label: 'LayerSkip Llama 3.2 1B', repo: 'facebook/layerskip-llama3.2-1B', fim: null,
    params: { count: 1e9, from: 'name' },
    note: 'trained for early exit: made for self-speculation; no FIM tokens, so it completes from the prefix only',
  },
];

/** The preset with this id, if any. */
export function presetById(id: string): Preset | undefined {
  return PRESETS.find((p) => p.id === id);
}

/** What to build for a device: int4 on a CPU, fp16 on a GPU. */
export function dtypeFor(device: Device): Dtype {
  return device === 'gpu' ? 'fp16' : 'int4';
}

const BYTES_PER_PARAM: Record<Dtype, number> = { fp32: 4, fp16: 2, int8: 1 + 1 / 32, int4: 0.5 + 1 / 32 };
/**
 * onnxruntime keeps repacked copies of MatMulNBits weights: a 0.58 GB int4 Qwen2.5-Coder-0.5B-shaped
 * file ran at 1.77 GB RSS (shared/notes/lean-graphs.md), so quantised weights count about 3×.
 */
const CPU_QUANTISED_FACTOR = 3;
/** Session and activation overhead on a GPU, a guess until measured on one. */
const GPU_OVERHEAD = 1.2;

export interface MemoryEstimate {
  dtype: Dtype;
  weightBytes: number;
  kvBytes: number;
  /** Host memory on a CPU; on a GPU, device memory. */
  bytes: number;
  device: Device;
}

/** Memory to run a preset on a device at a context length (KV in fp32 on a CPU, fp16 on a GPU). */
export function estimateMemory(p: Pick<Preset, 'params' | 'shape'>, device: Device, contextTokens = 4096): MemoryEstimate {
  const dtype = dtypeFor(device);
  const weightBytes = Math.round(p.params.count * BYTES_PER_PARAM[dtype]);
  const kvPerToken = p.shape ? 2 * p.shape.layers * p.shape.kvHeads * p.shape.headDim * (device === 'gpu' ? 2 : 4) : 0;
  const kvBytes = kvPerToken * contextTokens;
  const weights = device === 'gpu' ? weightBytes * GPU_OVERHEAD : dtype === 'int4' || dtype === 'int8' ? weightBytes * CPU_QUANTISED_FACTOR : weightBytes;
  return { dtype, weightBytes, kvBytes, bytes: Math.round(weights + kvBytes), device };
}

/** "≈ 1.6 GB RAM (int4, CPU) · ≈ 1.3 GB VRAM (fp16, GPU)" for a quick-pick description. */
export function describeNeeds(p: Preset): string {
  const gb = (n: number) => `${(n / 1e9).toFixed(1)} GB`;
  const cpu = estimateMemory(p, 'cpu');
  const gpu = estimateMemory(p, 'gpu');
  return `≈ ${gb(cpu.bytes)} RAM (${cpu.dtype}, CPU) · ≈ ${gb(gpu.bytes)} VRAM (${gpu.dtype}, GPU)`;
}

/** Why a preset will not fit in `totalBytes` of host memory on a CPU (undefined when it fits); GPUs are not checked here. */
export function memoryWarning(p: Preset, device: Device, totalBytes: number): string | undefined {
  if (device !== 'cpu') return undefined;
  const need = estimateMemory(p, device).bytes;
  if (need <= totalBytes * 0.8) return undefined;
  const gb = (n: number) => `${(n / 1e9).toFixed(1)} GB`;
  return `${p.label} needs about ${gb(need)} of memory at ${estimateMemory(p, device).dtype}, and this machine has ${gb(totalBytes)} in all.`;
}
