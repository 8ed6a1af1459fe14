// Reads and validates a model folder in Hugging Face hub layout (config.json, tokenizer.json,
// onnx/*.onnx), and Hasten's manifest with its sha256 sums and tree / layered variants.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { HastenError } from '../errors';
import { TextTokenizer } from '../tokenizer';
import { readVocabulary, vocabularyDifference } from './vocabulary';

/** The facts about a causal model that decoding needs. */
export interface ModelConfig {
  modelType: string;
  numLayers: number;
  numKvHeads: number;
  headDim: number;
  vocabSize: number;
  /** Longest sequence the model was trained for; the KV cache never holds more. */
  contextLength: number;
  /** KV slots of a builder-made fast graph (context + tree headroom); absent for other exports. */
  kvSlots?: number;
  eosIds: number[];
}

export interface LayeredFiles {
  embed: string;
  blocks: string[];
  head: string;
  kvPropagate: string;
  /** The CPU's blocks (layered_block_cpu_N.onnx): KV buffers read in place, only the new rows out. Builds before them lack these. */
  cpuBlocks?: string[];
}

/** Absolute paths of the graphs a folder provides. */
export interface ModelFiles {
  /** The Optimum-style graph (for a build without it: the fast graph, which the engine runs instead). */
  standard: string;
  /** The builder's fast graph (KV updated in place) and its token-tree twin. */
  fast?: string;
  fastTree?: string;
  /** The builder's CPU graph: attention reads the KV buffers, only the block's new rows come out (chains and trees). */
  fastCpu?: string;
  /** The builder's fp16 fast graph and its tree twin (fp16 K/V and activations): what a GPU runs. */
  fastGpu?: string;
  fastGpuTree?: string;
  tree?: string;
  layered?: LayeredFiles;
  cmlm?: string;
}

export interface ManifestEntry {
  path: string;
  kind: 'causal' | 'cmlm';
  role?: string;
  params?: number;
  layers?: number;
  exitLayers?: number[];
  drafts?: string[];
  maxSpan?: number;
  variants?: { standard?: string; fast?: string; fastTree?: string; fastCpu?: string; fastGpu?: string; fastGpuTree?: string; tree?: string; layered?: LayeredFiles; cmlm?: string };
  files: Record<string, string>;
}

export interface Manifest {
  version: number;
  defaults: { target: string; draft: string; cmlm: string };
  models: Record<string, ManifestEntry>;
}

export interface ModelFolder {
  dir: string;
  name: string;
  config: ModelConfig;
  files: ModelFiles;
  tokenizer: TextTokenizer;
  /** Present when the folder is listed in a manifest.json beside it. */
  manifest?: ManifestEntry;
  raw: Record<string, unknown>;
}

function readJson(file: string, what: string): Record<string, unknown> {
  if (!fs.existsSync(file)) {
    throw new HastenError('model-missing', `${file} is missing.`, `A model folder needs ${what}.`);
  }
  try {
    const v = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not a JSON object');
    return v as Record<string, unknown>;
  } catch (err) {
    throw new HastenError('model-corrupt', `${file} is not valid JSON (${(err as Error).message}).`, 'Repair or re-export the model folder.');
  }
}

/**
 * Upper bounds far above any real model's, so that an absurd value is an error here rather than an
 * array of 2^31 I/O names (a hang) or an invalid array length later.
 */
const MAX: Record<string, number> = { num_hidden_layers: 1024, num_attention_heads: 1024, num_key_value_heads: 1024, head_dim: 4096, hidden_size: 1 << 18, vocab_size: 1 << 22 };

function int(cfg: Record<string, unknown>, key: string, file: string, fallback?: number): number {
  const v = cfg[key] ?? fallback;
  const max = MAX[key] ?? Number.MAX_SAFE_INTEGER;
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0 || v > max) {
    throw new HastenError('model-corrupt', `${file}: "${key}" must be a positive integer${MAX[key] ? ` up to ${max}` : ''} (found ${JSON.stringify(v)}).`, 'Fix config.json to match the exported graph.');
  }
  return v;
}

/** Parses the fields of config.json that decoding relies on. */
export function parseConfig(cfg: Record<string, unknown>, file: string): ModelConfig {
  const heads = int(cfg, 'num_attention_heads', file);
  const hidden = int(cfg, 'hidden_size', file);
  const eos = cfg.eos_token_id;
  const build = (cfg.hasten as { build?: { contextLength?: unknown; kvSlots?: unknown } } | undefined)?.build;
  const built = (key: 'contextLength' | 'kvSlots'): number | undefined => {
    const v = build?.[key];
    if (v === undefined) return undefined;
    // The context is capped at 32768 below; KV slots add tree headroom to it. More is a broken file, not a model.
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0 || v > 65536) {
      throw new HastenError('model-corrupt', `${file}: "hasten.build.${key}" must be a positive integer up to 65536 (found ${JSON.stringify(v)}).`, 'Rebuild the model folder with npm run hasten -- build.');
    }
    return v;
  };
  const kvSlots = built('kvSlots');
  const builtContext = built('contextLength');
  const eosIds = Array.isArray(eos) ? eos.filter((x): x is number => typeof x === 'number') : typeof eos === 'number' ? [eos] : [];
  return {
    modelType: typeof cfg.model_type === 'string' ? cfg.model_type : 'unknown',
    numLayers: int(cfg, 'num_hidden_layers', file),
    numKvHeads: int(cfg, 'num_key_value_heads', file, heads),
    headDim: int(cfg, 'head_dim', file, Math.floor(hidden / heads)),
    vocabSize: int(cfg, 'vocab_size', file),
    contextLength: Math.min(builtContext ?? int(cfg, 'max_position_embeddings', file, 2048), 32768),
    ...(kvSlots ? { kvSlots: Math.max(kvSlots, builtContext ?? 0) } : {}),
    eosIds,
  };
}

/** Reads models/manifest.json-style files. */
export function readManifest(file: string): Manifest {
  const m = readJson(file, 'a manifest') as unknown as Manifest;
  if (typeof m.models !== 'object' || m.models === null) {
    throw new HastenError('model-corrupt', `${file} has no "models" table.`, 'Regenerate it with node models/toolchain/manifest.mjs.');
  }
  return m;
}

function sha256(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** Checks every file the manifest lists against its sha256. */
export function verifyManifestEntry(dir: string, entry: ManifestEntry): void {
  for (const [rel, want] of Object.entries(entry.files)) {
    const file = path.join(dir, rel);
    if (!fs.existsSync(file)) {
      throw new HastenError('model-missing', `${file} is listed in the manifest but missing.`, 'Restore the model folder (git checkout models/) or rebuild it with bash models/build.sh.');
    }
    if (sha256(file) !== want) {
      throw new HastenError('model-corrupt', `${file} does not match its sha256 in the manifest.`, 'The file is damaged or was changed: restore it (git checkout models/) or rebuild with bash models/build.sh.');
    }
  }
}

const isTable = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A manifest entry's shape, checked before any of it is used as a path (a hand-edited manifest can hold anything). */
function checkEntry(file: string, name: string, entry: unknown): ManifestEntry {
  const bad = (what: string) => new HastenError('model-corrupt', `${file}: the entry for ${name} ${what}.`, 'Restore it (git checkout models/) or regenerate it with node models/toolchain/manifest.mjs.');
  if (!isTable(entry)) throw bad('is not an object');
  if (!isTable(entry.files) || !Object.values(entry.files).every((h) => typeof h === 'string')) throw bad('has no "files" table of paths and sha256 sums');
  const v = entry.variants;
  if (v === undefined) return entry as unknown as ManifestEntry;
  if (!isTable(v)) throw bad('has a "variants" that is not a table');
  for (const [k, p] of Object.entries(v)) {
    const ok = k === 'layered'
      ? isTable(p) && ['embed', 'head', 'kvPropagate'].every((f) => typeof p[f] === 'string') && Array.isArray(p.blocks) && p.blocks.every((b) => typeof b === 'string')
        && (p.cpuBlocks === undefined || (Array.isArray(p.cpuBlocks) && p.cpuBlocks.length === p.blocks.length && p.cpuBlocks.every((b) => typeof b === 'string')))
      : typeof p === 'string';
    if (!ok) throw bad(`has a malformed "variants.${k}"`);
  }
  return entry as unknown as ManifestEntry;
}

function findManifest(dir: string): { entry: ManifestEntry; name: string } | undefined {
  const file = path.join(path.dirname(dir), 'manifest.json');
  if (!fs.existsSync(file)) return undefined;
  const name = path.basename(dir);
  const entry = readManifest(file).models[name];
  return entry === undefined ? undefined : { entry: checkEntry(file, name, entry), name };
}

/** The dtype suffixes onnx-community and Optimum exports use (`onnx/model_q4.onnx`), '' being fp32. */
export const ONNX_DTYPES = ['fp32', 'fp16', 'q4', 'q4f16', 'int8', 'uint8', 'quantized', 'bnb4'] as const;
export type OnnxDtype = (typeof ONNX_DTYPES)[number];

/**
 * Which export a folder with several runs when none is named. fp32 first (the most exact, and what a
 * CPU runs fastest per weight byte read), then 8-bit, then 4-bit, then graphs with fp16 I/O, whose
 * K/V and logits are converted on every step.
 */
export const DTYPE_PREFERENCE: readonly OnnxDtype[] = ['fp32', 'int8', 'quantized', 'uint8', 'q4', 'bnb4', 'q4f16', 'fp16'];

/** Graph base names, newest layout first: `model` (Optimum with past) and `decoder_model_merged` (use_cache_branch). */
const BASES = ['model', 'decoder_model_merged'] as const;

const fileOf = (base: string, dtype: OnnxDtype) => `${base}${dtype === 'fp32' ? '' : `_${dtype}`}.onnx`;

/** The exports a folder's onnx/ holds, as dtype and file name, in `DTYPE_PREFERENCE` order. */
export function onnxExports(dir: string): { dtype: OnnxDtype; file: string }[] {
  const out: { dtype: OnnxDtype; file: string }[] = [];
  for (const dtype of DTYPE_PREFERENCE) {
    for (const base of BASES) {
      if (fs.existsSync(path.join(dir, 'onnx', fileOf(base, dtype)))) out.push({ dtype, file: fileOf(base, dtype) });
    }
  }
  return out;
}

function standardGraph(dir: string, dtype?: OnnxDtype): string {
  const fast = path.join(dir, 'onnx', 'model_fast.onnx');
  const found = onnxExports(dir);
  if (found.length === 0 && fs.existsSync(fast)) return fast;
  if (dtype !== undefined && !ONNX_DTYPES.includes(dtype)) {
    throw new HastenError('bad-request', `"${dtype}" is not an ONNX export dtype.`, `Name one of ${ONNX_DTYPES.join(', ')}.`);
  }
  const pick = dtype === undefined ? found[0] : found.find((f) => f.dtype === dtype);
  if (pick) return path.join(dir, 'onnx', pick.file);
  if (dtype !== undefined && found.length) {
    throw new HastenError('model-missing', `${path.join(dir, 'onnx')} has no ${dtype} export (${fileOf('model', dtype)}); it has ${found.map((f) => f.file).join(', ')}.`,
      `Pick one of ${[...new Set(found.map((f) => f.dtype))].join(', ')}, or download onnx/${fileOf('model', dtype)} into the folder.`);
  }
  throw new HastenError('model-missing', `${path.join(dir, 'onnx', 'model.onnx')} is missing.`,
    'A model folder needs onnx/model.onnx or one of its dtype variants (model_fp16.onnx, model_q4.onnx, ..., or decoder_model_merged*.onnx), an export with past_key_values; or build one from a checkpoint with npm run hasten -- build.');
}

export interface OpenOptions {
  /** Verify sha256 sums when the folder is in a manifest (default true). */
  verify?: boolean;
  /** Which ONNX export to run when the folder has several (default: the first of `DTYPE_PREFERENCE` present). */
  dtype?: OnnxDtype;
}

/** Opens a model folder: validates its files and config, loads its tokenizer. */
export function openModelFolder(dir: string, opts: OpenOptions = {}): ModelFolder {
  const abs = path.resolve(dir);
  if (!fs.existsSync(abs) || !fs.statSync(abs).isDirectory()) {
    throw new HastenError('model-missing', `Model folder ${abs} does not exist.`, 'Pick a folder with config.json, tokenizer.json and onnx/model.onnx (hasten.model setting).');
  }
  const found = findManifest(abs);
  if (found && opts.verify !== false) verifyManifestEntry(abs, found.entry);
  const cfgFile = path.join(abs, 'config.json');
  const raw = readJson(cfgFile, 'config.json (Hugging Face layout)');
  const isCmlm = raw.model_type === 'hasten-cmlm';
  const config = parseConfig(raw, cfgFile);
  const tokenizer = TextTokenizer.load(abs, config.eosIds);
  if (tokenizer.vocabSize > config.vocabSize) {
    throw new HastenError('tokenizer-mismatch', `${path.join(abs, 'tokenizer.json')} has ${tokenizer.vocabSize} tokens but config.json says vocab_size ${config.vocabSize}.`,
      'The tokenizer does not belong to this model: use the tokenizer.json exported with it.');
  }
  const v = found?.entry.variants;
  const at = (rel: string) => path.join(abs, rel);
  const files: ModelFiles = isCmlm ? { standard: at(v?.cmlm ?? 'onnx/model.onnx'), cmlm: at(v?.cmlm ?? 'onnx/model.onnx') } : { standard: standardGraph(abs, opts.dtype) };
  const tree = v?.tree ?? (fs.existsSync(at('onnx/model_tree.onnx')) ? 'onnx/model_tree.onnx' : undefined);
  if (tree && !isCmlm) files.tree = at(tree);
  const fast = v?.fast ?? (fs.existsSync(at('onnx/model_fast.onnx')) ? 'onnx/model_fast.onnx' : undefined);
  const fastTree = v?.fastTree ?? (fs.existsSync(at('onnx/model_fast_tree.onnx')) ? 'onnx/model_fast_tree.onnx' : undefined);
  if (fast && !isCmlm) files.fast = at(fast);
  if (fastTree && !isCmlm) files.fastTree = at(fastTree);
  const fastCpu = v?.fastCpu ?? (fs.existsSync(at('onnx/model_fast_cpu.onnx')) ? 'onnx/model_fast_cpu.onnx' : undefined);
  if (fastCpu && !isCmlm) files.fastCpu = at(fastCpu);
  const fastGpu = v?.fastGpu ?? (fs.existsSync(at('onnx/model_fast_fp16.onnx')) ? 'onnx/model_fast_fp16.onnx' : undefined);
  const fastGpuTree = v?.fastGpuTree ?? (fs.existsSync(at('onnx/model_fast_tree_fp16.onnx')) ? 'onnx/model_fast_tree_fp16.onnx' : undefined);
  if (fastGpu && !isCmlm) files.fastGpu = at(fastGpu);
  if (fastGpuTree && !isCmlm) files.fastGpuTree = at(fastGpuTree);
  if (v?.layered) {
    files.layered = {
      embed: at(v.layered.embed), blocks: v.layered.blocks.map(at), head: at(v.layered.head), kvPropagate: at(v.layered.kvPropagate),
      ...(v.layered.cpuBlocks ? { cpuBlocks: v.layered.cpuBlocks.map(at) } : {}),
    };
  }
  return { dir: abs, name: found?.name ?? path.basename(abs), config, files, tokenizer, raw, ...(found ? { manifest: found.entry } : {}) };
}

/**
 * Refuses a draft whose vocabulary differs from the target's: their ids would mean different text.
 * Compares token -> id maps and added tokens (src/engine/model/vocabulary.ts), not tokenizer.json's bytes.
 */
export function checkSameTokenizer(target: ModelFolder, draft: ModelFolder): void {
  const why = vocabularyDifference(readVocabulary(target.dir), readVocabulary(draft.dir));
  if (why !== null) {
    throw new HastenError('tokenizer-mismatch', `The draft model ${draft.dir} has a different vocabulary from the target ${target.dir}: ${why}.`,
      'A draft must have the target\'s vocabulary (the same token ids); pick a draft from the same family, e.g. Qwen2.5-Coder 0.5B for the larger Qwen2.5-Coder models (hasten.draftModel setting).');
  }
}
