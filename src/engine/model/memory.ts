// Host memory a model needs, estimated from its files before any session is created, so that a model
// that cannot fit is refused with both figures instead of the machine swapping, or onnxruntime dying
// half-way through a multi-gigabyte allocation.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HastenError } from '../errors';
import { ModelConfig } from './folder';

/**
 * onnxruntime keeps repacked copies of quantised MatMul weights: a 0.58 GB int4 Qwen2.5-Coder-0.5B-shaped
 * file ran at 1.77 GB RSS (shared/notes/lean-graphs.md), so quantised weights count 3x (as presets do).
 */
const QUANTISED_FACTOR = 3;
/** Sessions, arena-free activations and the tokenizer: a floor measured as tens of MB for the bundled models. */
const OVERHEAD_BYTES = 64 * 2 ** 20;

export interface MemoryEstimate {
  /** Bytes of the graph and its external data on disk. */
  weightBytes: number;
  quantised: boolean;
  /** The KV cache at its largest, `kvSlots` tokens (the context, or the build's slots); float16 for fp16 / q4f16 exports. */
  kvBytes: number;
  kvSlots: number;
  bytes: number;
}

/** A graph's own file and its external data: `<graph>_data`, `<graph>.data`, numbered parts, or a builder's shared model.onnx_data. */
export function weightFiles(graph: string): string[] {
  const dir = path.dirname(graph);
  const base = path.basename(graph);
  const own = fs.readdirSync(dir).filter((f) => f !== base && (f.startsWith(`${base}_data`) || f.startsWith(`${base}.data`)));
  if (own.length === 0 && fs.existsSync(path.join(dir, 'model.onnx_data')) && base !== 'model.onnx') own.push('model.onnx_data');
  return [graph, ...own.map((f) => path.join(dir, f))];
}

/** Whether a graph's weights are quantised: a builder record's dtype, or an export's suffix (q4, int8, bnb4, ...). */
export function isQuantised(graph: string, raw: Record<string, unknown>): boolean {
  const built = (raw.hasten as { build?: { dtype?: unknown } } | undefined)?.build?.dtype;
  if (typeof built === 'string') return built.startsWith('int');
  return /_(q4|q4f16|int8|uint8|quantized|bnb4)\.onnx$/.test(path.basename(graph));
}

/** The host memory a causal model's graph and a KV cache of `kvSlots` float32 slots need. */
export function estimateMemory(graph: string, config: ModelConfig, raw: Record<string, unknown>, kvSlots: number): MemoryEstimate {
  const onDisk = weightFiles(graph).reduce((n, f) => n + fs.statSync(f).size, 0);
  const quantised = isQuantised(graph, raw);
  // onnx-community's fp16 and q4f16 exports take float16 K/V, which the cache keeps as it is.
  const kvBytes = 2 * config.numLayers * config.numKvHeads * config.headDim * kvSlots * (/_(fp16|q4f16)\.onnx$/.test(path.basename(graph)) ? 2 : 4);
  return { weightBytes: onDisk, quantised, kvBytes, kvSlots, bytes: Math.round(onDisk * (quantised ? QUANTISED_FACTOR : 1) + kvBytes + OVERHEAD_BYTES) };
}

const gb = (n: number) => (n >= 1e9 ? `${(n / 1e9).toFixed(1)} GB` : `${Math.round(n / 1e6)} MB`);

/**
 * Memory a model may take now. Linux and Windows report what is available (free plus reclaimable
 * cache) as os.freemem; macOS reports free pages only, often a few hundred MB with gigabytes of
 * reclaimable cache beside them, so there only the total counts.
 */
export function availableMemory(platform: NodeJS.Platform = process.platform): { free: number; total: number } {
  const total = os.totalmem();
  return { free: platform === 'darwin' ? total : os.freemem(), total };
}

/** Refuses a model that needs more than the memory available now. `mem` defaults to this machine's. */
export function checkMemory(what: string, e: MemoryEstimate, mem: { free: number; total: number } = availableMemory()): void {
  if (e.bytes <= mem.free) return;
  const parts = `${gb(e.weightBytes)} of weights${e.quantised ? ` (counted ${QUANTISED_FACTOR}x: onnxruntime repacks quantised weights)` : ''} and ${gb(e.kvBytes)} of KV cache for ${e.kvSlots} tokens, from config.json`;
  const never = e.bytes > mem.total;
  throw new HastenError('model-too-large',
    `${what} needs about ${gb(e.bytes)} of memory (${parts}), and this machine has ${gb(mem.free)} available${never ? ` of ${gb(mem.total)} in all` : ` (${gb(mem.total)} in all)`}.`,
    never
      ? 'Pick a smaller model or a 4-bit build (npm run hasten -- build --dtype int4, or an onnx-community model_q4.onnx).'
      : 'Close other programs and reload, or pick a smaller model or a 4-bit build (npm run hasten -- build --dtype int4).');
}
