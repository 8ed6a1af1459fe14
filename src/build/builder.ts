// Hasten's graph builder: a Hugging Face checkpoint folder (config.json, safetensors, tokenizer)
// in, a Hasten model folder out. Everything is written to a temporary folder beside the output and
// renamed into place at the end, so a failed or cancelled build leaves nothing half-written.
import fs from 'node:fs';
import path from 'node:path';
import { throwIfAborted } from '../engine/errors';
import { Arch, readArch } from './arch';
import { Emitter, EmitOptions } from './emit';
import { BuildError } from './errors';
import { cpuGraph, fastGraph, FILES, layeredGraphs, standardGraph, Variant, VARIANTS, WEIGHTS_FILE } from './graphs';
import { Graph } from './onnx';
import { Checkpoint } from './safetensors';
import { Dtype, DTYPES, WeightStore } from './weights';

/** Bumped whenever the graphs a build writes change; part of the model manager's cache key. */
export const BUILDER_VERSION = '6';
/** KV slots beyond the context, so a token tree of up to this many nodes fits after a full context. */
export const TREE_HEADROOM = 128;

export interface BuildOptions {
  from: string;
  out: string;
  dtype?: Dtype;
  variants?: readonly Variant[];
  /** Context the fast graphs are built for (default: the model's, at most 32,768). */
  contextLength?: number;
  /** int8/int4: quantise the LM head too (default true). */
  quantiseHead?: boolean;
  accuracyLevel?: number;
  blockSize?: number;
  /** Replace an existing output folder. */
  force?: boolean;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number, what: string) => void;
}

export interface BuildSummary {
  out: string;
  arch: Arch;
  dtype: Dtype;
  params: number;
  weightBytes: number;
  graphs: { file: string; nodes: number; bytes: number }[];
  seconds: number;
}

/** What config.json records about a build (under hasten.build). */
export interface BuildRecord {
  builderVersion: string;
  dtype: Dtype;
  contextLength: number;
  /** Slots of the fast graphs' KV buffers (context + tree headroom). */
  kvSlots: number;
  variants: Variant[];
  quantisedHead: boolean;
  blockSize: number;
  accuracyLevel: number;
  files: Record<string, string | string[]>;
}

function readJson(file: string): Record<string, unknown> {
  if (!fs.existsSync(file)) throw new BuildError(`${file} is missing.`, 'A checkpoint folder needs config.json (Hugging Face layout).');
  try {
    const v = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not a JSON object');
    return v as Record<string, unknown>;
  } catch (err) {
    throw new BuildError(`${file} is not valid JSON (${(err as Error).message}).`, 'Download the checkpoint again.');
  }
}

function countParams(ckpt: Checkpoint): number {
  return ckpt.names.reduce((s, n) => s + ckpt.info(n).shape.reduce((a, b) => a * b, 1), 0);
}

/** Builds the graphs of a checkpoint; see BuildOptions. */
export async function build(o: BuildOptions): Promise<BuildSummary> {
  const t0 = performance.now();
  const dtype = o.dtype ?? 'fp32';
  if (!DTYPES.includes(dtype)) throw new BuildError(`Unknown dtype ${JSON.stringify(dtype)}.`, `Use one of ${DTYPES.join(', ')}.`);
  // By default every variant the dtype allows: the fp16 GPU graphs read fp16 or quantised weights, not an fp32 build's.
  const variants = [...new Set(o.variants ?? VARIANTS.filter((v) => v !== 'gpu' || dtype !== 'fp32'))];
  const bad = variants.filter((v) => !VARIANTS.includes(v));
  if (bad.length) throw new BuildError(`Unknown variant ${bad.join(', ')}.`, `Use some of ${VARIANTS.join(', ')}.`);
  if (variants.includes('gpu') && dtype === 'fp32') throw new BuildError('The gpu variant (fp16 graphs) needs fp16 or quantised weights, not an fp32 build.', 'Build with --dtype fp16 (or int8/int4), or leave gpu out of --variants.');
  const from = path.resolve(o.from);
  const out = path.resolve(o.out);
  const cfgFile = path.join(from, 'config.json');
  const cfg = readJson(cfgFile);
  const arch = readArch(cfg, cfgFile);
  const ckpt = Checkpoint.open(from);
  // The layer count must match the checkpoint before any graph is emitted (a lying count would only build huge graphs).
  const last = `model.layers.${arch.layers - 1}.self_attn.q_proj.weight`;
  if (!ckpt.has(last) || ckpt.has(`model.layers.${arch.layers}.self_attn.q_proj.weight`)) {
    const held = ckpt.names.filter((n) => /^model\.layers\.\d+\.self_attn\.q_proj\.weight$/.test(n)).length;
    throw new BuildError(`${cfgFile} says num_hidden_layers ${arch.layers}, but ${ckpt.files.join(', ')} hold${ckpt.files.length === 1 ? 's' : ''} ${held} layers (${ckpt.has(last) ? `an extra model.layers.${arch.layers}` : `no ${last}`}).`,
      'The checkpoint and its config.json do not match: download the checkpoint again, or use the config saved with it.');
  }
  if (!fs.existsSync(path.join(from, 'tokenizer.json'))) throw new BuildError(`${path.join(from, 'tokenizer.json')} is missing.`, 'Hasten needs the fast tokenizer file (tokenizer.json) of the checkpoint.');
  if (fs.existsSync(out) && !o.force) throw new BuildError(`${out} already exists.`, 'Pass --force to replace it, or choose another --out.');
  const contextLength = Math.min(o.contextLength ?? arch.maxPositions, arch.maxPositions, 32768);
  const opts: EmitOptions = {
    dtype, kvSlots: contextLength + TREE_HEADROOM,
    quantiseHead: o.quantiseHead ?? true,
    accuracyLevel: o.accuracyLevel ?? 4,
    blockSize: o.blockSize ?? 32,
    halfCompute: variants.includes('gpu'),
  };
  if ((dtype === 'int8' || dtype === 'int4') && (arch.hidden % opts.blockSize || arch.intermediate % opts.blockSize || (arch.heads * arch.headDim) % opts.blockSize)) {
    throw new BuildError(`${cfgFile}: hidden_size ${arch.hidden} / intermediate_size ${arch.intermediate} are not multiples of the block size ${opts.blockSize}.`, 'Build at fp32 or fp16, or pass another --block-size.');
  }

  const tmp = `${out}.building-${process.pid}-${Date.now()}`;
  fs.mkdirSync(path.join(tmp, 'onnx'), { recursive: true });
  let store: WeightStore | null = null;
  try {
    store = new WeightStore(path.join(tmp, 'onnx', WEIGHTS_FILE));
    const e = new Emitter(arch, ckpt, store, opts);
    const plan: { file: string; make: () => Graph | Map<string, Graph> }[] = [];
    if (variants.includes('fast')) plan.push({ file: FILES.fast, make: () => fastGraph(e, WEIGHTS_FILE, false) });
    if (variants.includes('tree')) plan.push({ file: FILES.tree, make: () => fastGraph(e, WEIGHTS_FILE, true) });
    if (variants.includes('cpu')) plan.push({ file: FILES.cpu, make: () => cpuGraph(e, WEIGHTS_FILE) });
    if (variants.includes('gpu')) plan.push({ file: 'gpu', make: () => new Map([[FILES.gpu, fastGraph(e, WEIGHTS_FILE, false, true)], [FILES.gpuTree, fastGraph(e, WEIGHTS_FILE, true, true)]]) });
    if (variants.includes('standard')) plan.push({ file: FILES.standard, make: () => standardGraph(e, WEIGHTS_FILE) });
    if (variants.includes('layered')) plan.push({ file: 'layered', make: () => layeredGraphs(e, WEIGHTS_FILE) });
    const graphs: BuildSummary['graphs'] = [];
    for (const [i, step] of plan.entries()) {
      throwIfAborted(o.signal);
      o.onProgress?.(i, plan.length, step.file);
      // Yield so that a progress bar repaints and a cancellation arrives between graphs.
      await new Promise((r) => setImmediate(r));
      const made = step.make();
      const all = made instanceof Map ? made : new Map([[step.file, made]]);
      for (const [file, g] of all) {
        const bytes = g.encode(BUILDER_VERSION, { 'hasten.dtype': dtype });
        fs.writeFileSync(path.join(tmp, 'onnx', file), bytes);
        graphs.push({ file: `onnx/${file}`, nodes: g.nodeCount, bytes: bytes.length });
      }
    }
    o.onProgress?.(plan.length, plan.length, 'done');
    const weightBytes = store.bytes;
    store.close();
    store = null;
    writeMetadata(from, tmp, cfg, { builderVersion: BUILDER_VERSION, dtype, contextLength, kvSlots: opts.kvSlots, variants, quantisedHead: opts.quantiseHead && dtype.startsWith('int'), blockSize: opts.blockSize, accuracyLevel: opts.accuracyLevel, files: recordFiles(variants, arch.layers) });
    throwIfAborted(o.signal);
    replaceDir(tmp, out);
    return { out, arch, dtype, params: countParams(ckpt), weightBytes, graphs, seconds: (performance.now() - t0) / 1000 };
  } catch (err) {
    if (store) store.close();
    fs.rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}

function recordFiles(variants: readonly Variant[], layers: number): Record<string, string | string[]> {
  const f: Record<string, string | string[]> = {};
  if (variants.includes('standard')) f.standard = `onnx/${FILES.standard}`;
  if (variants.includes('fast')) f.fast = `onnx/${FILES.fast}`;
  if (variants.includes('tree')) f.tree = `onnx/${FILES.tree}`;
  if (variants.includes('cpu')) f.fastCpu = `onnx/${FILES.cpu}`;
  if (variants.includes('gpu')) {
    f.fastGpu = `onnx/${FILES.gpu}`;
    f.fastGpuTree = `onnx/${FILES.gpuTree}`;
  }
  if (variants.includes('layered')) {
    f.embed = `onnx/${FILES.embed}`;
    f.blocks = Array.from({ length: layers }, (_, l) => `onnx/${FILES.block(l)}`);
    f.cpuBlocks = Array.from({ length: layers }, (_, l) => `onnx/${FILES.cpuBlock(l)}`);
    f.head = `onnx/${FILES.head}`;
    f.kvPropagate = `onnx/${FILES.kvPropagate}`;
  }
  return f;
}

function writeMetadata(from: string, to: string, cfg: Record<string, unknown>, record: BuildRecord): void {
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'generation_config.json', 'special_tokens_map.json']) {
    const src = path.join(from, f);
    if (fs.existsSync(src)) fs.copyFileSync(src, path.join(to, f));
  }
  const hasten = typeof cfg.hasten === 'object' && cfg.hasten !== null ? cfg.hasten as Record<string, unknown> : {};
  const config = { ...cfg, 'transformers.js_config': { use_external_data_format: true }, hasten: { ...hasten, build: record } };
  fs.writeFileSync(path.join(to, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
}

/** Moves `tmp` to `out`, replacing what was there only once the new folder is complete. */
function replaceDir(tmp: string, out: string): void {
  if (!fs.existsSync(out)) {
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.renameSync(tmp, out);
    return;
  }
  const old = `${out}.old-${process.pid}-${Date.now()}`;
  fs.renameSync(out, old);
  fs.renameSync(tmp, out);
  fs.rmSync(old, { recursive: true, force: true });
}
