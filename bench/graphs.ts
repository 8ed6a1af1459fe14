// The report's `graphs` section: what the graph builder buys on the bundled target. In one run:
//   - kernels per decode step (onnxruntime's profiler) of the torch export the builder replaced, the
//     builder's standard graph, and its fast graph at fp16-stored / fp32 / int8 / int4 weights;
//   - decode tokens/s on held-out prompts, interleaved per prompt: each of those graphs (plain
//     decoding; a build with the CPU graph runs that on the CPU, and a shipped folder without one runs
//     beside an fp16 build with one), prompt lookup on the shipped and the int8 graph, llama.cpp plain
//     at F32 / Q8_0 / Q4_0 of the same checkpoint (Q8_0 / Q4_0 hold exactly our int8 / int4 numbers), and
//     transformers.js on the standard graph it is made for;
//   - quality: teacher-forced bits per byte of each precision on the held-out prompts' source text.
// The torch export is the one committed before the builder (TORCH_EXPORT_COMMIT), taken from git.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { build } from '../src/build/builder';
import { Dtype } from '../src/build/weights';
import { Engine } from '../src/engine';
import { CausalModel } from '../src/engine/model/causal';
import { HeadlineRecord, HeadlineRow, HeadlineSystem, runHeadline, tabulateHeadline } from './headline';
import { PeerSystem } from './peers/types';
import { WorkloadItem } from './workloads';

const ROOT = path.resolve(__dirname, '..');
const MODELS = path.join(ROOT, 'models');
const TARGET = path.join(MODELS, 'hasten-target');
/** The last commit whose bundled target was the torch export (624 kernels a step). */
export const TORCH_EXPORT_COMMIT = '02c9e38';
const TORCH_FILES = ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'onnx/model.onnx', 'onnx/model.onnx_data'];
export const BASE = 'torch export';

export interface KernelCount {
  graph: string;
  file: string;
  nodes: number | null;
  kernelsPerStep: number;
}

export interface Quality {
  system: string;
  dtype: string;
  bitsPerByte: number;
  tokens: number;
  bytes: number;
}

export interface GraphsResult {
  /** The system speed-ups and identity are measured against: the builder's standard graph (same weights). */
  base: string;
  items: string[];
  maxNewTokens: number;
  builds: { dtype: Dtype; seconds: number; weightBytes: number }[];
  kernels: KernelCount[];
  quality: Quality[];
  rows: HeadlineRow[];
  records: HeadlineRecord[];
  peers: { id: string; description: string }[];
  peerErrors: string[];
}

/** The bundled target as the torch export left it, from git (cached under models/.work). */
export function torchExport(): string {
  const dir = path.join(MODELS, '.work', 'torch-export', `hasten-target-${TORCH_EXPORT_COMMIT}`);
  if (TORCH_FILES.every((f) => fs.existsSync(path.join(dir, f)))) return dir;
  fs.mkdirSync(path.join(dir, 'onnx'), { recursive: true });
  for (const f of TORCH_FILES) {
    const bytes = execFileSync('git', ['show', `${TORCH_EXPORT_COMMIT}:models/hasten-target/${f}`], { cwd: ROOT, maxBuffer: 1 << 28 });
    fs.writeFileSync(path.join(dir, f), bytes);
  }
  return dir;
}

/** Builds the bundled target's fast graphs at a precision (cached until the checkpoint changes). */
async function precisionBuild(dtype: Dtype): Promise<{ dir: string; seconds: number; weightBytes: number }> {
  const out = path.join(MODELS, '.work', 'bench-graphs', `hasten-target-${dtype}`);
  const s = await build({ from: TARGET, out, dtype, variants: ['fast', 'tree', 'cpu'], force: true });
  return { dir: out, seconds: s.seconds, weightBytes: s.weightBytes };
}

const i64 = (a: number[]) => new ort.Tensor('int64', BigInt64Array.from(a.map(BigInt)), [1, a.length]);

/** Median kernels per decode step (profiler 'kernel_time' events inside each model_run after the prefill). */
export async function kernelsPerStep(file: string, kind: 'standard' | 'fast' | 'cpu', cfg: { layers: number; kvHeads: number; headDim: number; slots?: number }, steps = 8): Promise<number> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hasten-prof-'));
  const s = await ort.InferenceSession.create(file, { enableProfiling: true, profileFilePrefix: path.join(dir, 'p'), logSeverityLevel: 3, intraOpNumThreads: 1 });
  try {
    const prompt = Array.from({ length: 32 }, (_, i) => 300 + i);
    if (kind === 'standard') {
      let past: Record<string, ort.Tensor> = {};
      for (let l = 0; l < cfg.layers; l++) for (const k of ['key', 'value']) past[`past_key_values.${l}.${k}`] = new ort.Tensor('float32', new Float32Array(0), [1, cfg.kvHeads, 0, cfg.headDim]);
      let ids = prompt;
      let total = 0;
      for (let n = 0; n <= steps; n++) {
        total += ids.length;
        const out = await s.run({ input_ids: i64(ids), attention_mask: i64(Array(total).fill(1)), position_ids: i64(ids.map((_, i) => total - ids.length + i)), ...past });
        past = {};
        for (let l = 0; l < cfg.layers; l++) for (const k of ['key', 'value']) past[`past_key_values.${l}.${k}`] = out[`present.${l}.${k}`]!;
        ids = [400 + n];
      }
    } else if (kind === 'cpu') {
      // The CPU graph: 128 slots read in place (what the engine allocates for this prompt), the block's rows written back.
      const slots = 128;
      const kv = Array.from({ length: 2 * cfg.layers }, () => new ort.Tensor('float32', new Float32Array(cfg.kvHeads * slots * cfg.headDim), [1, cfg.kvHeads, slots, cfg.headDim]));
      let ids = prompt;
      let past = 0;
      for (let n = 0; n <= steps; n++) {
        const S = ids.length;
        const bias = new Float32Array(S * (slots + S)).fill(-3.4e38);
        for (let i = 0; i < S; i++) {
          bias.fill(0, i * (slots + S), i * (slots + S) + past);
          bias.fill(0, i * (slots + S) + slots, i * (slots + S) + slots + i + 1);
        }
        const feeds: Record<string, ort.Tensor> = { input_ids: i64(ids), position_ids: i64(ids.map((_, i) => past + i)), attention_bias: new ort.Tensor('float32', bias, [1, 1, S, slots + S]), logits_to_keep: new ort.Tensor('int64', BigInt64Array.of(1n), []) };
        for (let l = 0; l < cfg.layers; l++) {
          feeds[`past_key_values.${l}.key`] = kv[2 * l]!;
          feeds[`past_key_values.${l}.value`] = kv[2 * l + 1]!;
        }
        await s.run(feeds);
        past += S;
        ids = [400 + n];
      }
    } else {
      const slots = cfg.slots!;
      const kv = Array.from({ length: 2 * cfg.layers }, () => new ort.Tensor('float32', new Float32Array(cfg.kvHeads * slots * cfg.headDim), [1, cfg.kvHeads, slots, cfg.headDim]));
      let ids = prompt;
      let past = 0;
      for (let n = 0; n <= steps; n++) {
        const feeds: Record<string, ort.Tensor> = { input_ids: i64(ids), seqlens_k: new ort.Tensor('int32', Int32Array.of(past + ids.length - 1), [1]), total_sequence_length: new ort.Tensor('int32', Int32Array.of(past + ids.length), []), logits_to_keep: new ort.Tensor('int64', BigInt64Array.of(1n), []) };
        const fetches: Record<string, ort.Tensor | null> = { logits: null };
        for (let l = 0; l < cfg.layers; l++) {
          feeds[`past_key_values.${l}.key`] = fetches[`present.${l}.key`] = kv[2 * l]!;
          feeds[`past_key_values.${l}.value`] = fetches[`present.${l}.value`] = kv[2 * l + 1]!;
        }
        await s.run(feeds, fetches as unknown as ort.InferenceSession.FetchesType);
        past += ids.length;
        ids = [400 + n];
      }
    }
  } finally {
    (s as unknown as { endProfiling(): void }).endProfiling();
    await s.release();
  }
  const file2 = fs.readdirSync(dir).map((f) => path.join(dir, f))[0]!;
  const events = JSON.parse(fs.readFileSync(file2, 'utf8')) as { cat?: string; name: string; ts: number; dur: number }[];
  fs.rmSync(dir, { recursive: true, force: true });
  const runs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run').sort((a, b) => a.ts - b.ts).slice(1);
  const kernels = events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time'));
  const counts = runs.map((r) => kernels.filter((k) => k.ts >= r.ts && k.ts <= r.ts + r.dur).length).sort((a, b) => a - b);
  return counts[Math.floor(counts.length / 2)] ?? 0;
}

/** Teacher-forced bits per byte over texts, in windows of the model's context. */
export async function bitsPerByte(model: CausalModel, texts: string[]): Promise<{ bitsPerByte: number; tokens: number; bytes: number }> {
  const tk = model.folder.tokenizer;
  const window = Math.min(256, model.contextLength);
  let nats = 0, tokens = 0, bytes = 0;
  for (const text of texts) {
    const ids = tk.encode(text);
    for (let start = 0; start + 1 < ids.length; start += window - 1) {
      const w = ids.slice(start, start + window);
      model.reset();
      const logits = await model.forward(w, null);
      for (let i = 0; i + 1 < w.length; i++) {
        const row = logits.row(i);
        let max = -Infinity;
        for (const v of row) max = Math.max(max, v);
        let z = 0;
        for (const v of row) z += Math.exp(v - max);
        nats += Math.log(z) + max - row[w[i + 1]!]!;
        tokens++;
        bytes += Buffer.byteLength(tk.decode([w[i + 1]!]), 'utf8');
      }
    }
  }
  model.reset();
  return { bitsPerByte: nats / Math.LN2 / bytes, tokens, bytes };
}

export interface GraphsOptions {
  items: WorkloadItem[];
  maxNewTokens: number;
  threads: number;
  /** Texts for bits per byte (the held-out sources the prompts were cut from). */
  qualityItems: WorkloadItem[];
  onProgress?: (label: string, done?: number, total?: number) => void;
}

/** Runs the section; see the file header. */
export async function runGraphs(o: GraphsOptions): Promise<GraphsResult> {
  const runtime = { provider: 'cpu' as const, threads: o.threads };
  const builds: GraphsResult['builds'] = [];
  const dirs: Partial<Record<Dtype, string>> = { fp16: TARGET };
  for (const dtype of ['fp32', 'int8', 'int4'] as const) {
    const b = await precisionBuild(dtype);
    builds.push({ dtype, seconds: b.seconds, weightBytes: b.weightBytes });
    dirs[dtype] = b.dir;
  }
  // Identity and speed-ups are against the builder's standard graph on the same weights. The torch export
  // (from git; absent in a clone without history) holds the first generation's weights in the same shapes:
  // it is timed and its kernels counted, but its tokens are another model's.
  let torch: string | null = null;
  const peerErrors: string[] = [];
  try {
    torch = torchExport();
  } catch (err) {
    peerErrors.push(`torch export (git show ${TORCH_EXPORT_COMMIT}): ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
  }
  const base = 'builder standard';
  const cfg = JSON.parse(fs.readFileSync(path.join(TARGET, 'config.json'), 'utf8')) as { num_hidden_layers: number; num_key_value_heads: number; head_dim: number; hasten: { build: { kvSlots: number } } };
  const shape = { layers: cfg.num_hidden_layers, kvHeads: cfg.num_key_value_heads, headDim: cfg.head_dim, slots: cfg.hasten.build.kvSlots };
  o.onProgress?.('kernels');
  const kernels: KernelCount[] = [];
  const count = async (graph: string, file: string, kind: 'standard' | 'fast' | 'cpu') => kernels.push({ graph, file: path.relative(ROOT, file), nodes: null, kernelsPerStep: await kernelsPerStep(file, kind, shape) });
  if (torch) await count(BASE, path.join(torch, 'onnx', 'model.onnx'), 'standard');
  await count('builder standard (Optimum I/O)', path.join(TARGET, 'onnx', 'model.onnx'), 'standard');
  for (const d of ['fp16', 'fp32', 'int8', 'int4'] as const) await count(`builder fast ${d}`, path.join(dirs[d]!, 'onnx', 'model_fast.onnx'), 'fast');
  // What the CPU runs: more kernels than the fast graph (its attention is plain ops), none of them copying the cache.
  await count('builder CPU graph fp32', path.join(dirs.fp32!, 'onnx', 'model_fast_cpu.onnx'), 'cpu');

  const engines: Engine[] = [];
  const load = async (modelDir: string, graph?: 'standard') => {
    const e = await Engine.load({ modelDir, draftDir: null, cmlmDir: null, runtime, ...(graph ? { graph } : {}), log: () => {} });
    engines.push(e);
    return e;
  };
  const peers: PeerSystem[] = [];
  try {
    const systems: HeadlineSystem[] = [{ id: 'builder standard', family: 'hasten', lossy: false, strategy: 'autoregressive', engine: await load(TARGET, 'standard') }];
    if (torch) systems.unshift({ id: BASE, family: 'hasten', lossy: false, strategy: 'autoregressive', engine: await load(torch) });
    const fast: Partial<Record<Dtype, Engine>> = {};
    for (const d of ['fp16', 'fp32', 'int8', 'int4'] as const) {
      fast[d] = await load(dirs[d]!);
      systems.push({ id: `fast ${d}`, family: 'hasten', lossy: false, strategy: 'autoregressive', engine: fast[d] });
    }
    // A shipped folder without the CPU graph runs the in-place GroupQueryAttention graph: an fp16 build beside it runs the CPU graph.
    if (!fs.existsSync(path.join(TARGET, 'onnx', 'model_fast_cpu.onnx'))) {
      systems.push({ id: 'fast fp16, CPU graph', family: 'hasten', lossy: false, strategy: 'autoregressive', engine: await load((await precisionBuild('fp16')).dir) });
    }
    systems.push({ id: 'fast fp16 + prompt lookup', family: 'hasten', lossy: false, strategy: 'prompt-lookup', engine: fast.fp16! });
    systems.push({ id: 'fast int8 + prompt lookup', family: 'hasten', lossy: false, strategy: 'prompt-lookup', engine: fast.int8! });
    try {
      const { openLlamaCpp } = await import('./peers/llamacpp');
      for (const quant of ['F32', 'Q8_0', 'Q4_0'] as const) {
        const r = await openLlamaCpp({ targetDir: TARGET, threads: o.threads, contextSize: fast.fp16!.target.contextLength, quant, plainOnly: true });
        if (r.ok) peers.push(...r.systems);
        else peerErrors.push(r.message);
      }
    } catch (err) {
      peerErrors.push(`llama.cpp: ${err instanceof Error ? err.message : String(err)}`);
    }
    try {
      const { openTransformersJs } = await import('./peers/transformersjs');
      const r = await openTransformersJs({ modelDir: TARGET, threads: o.threads, ...(o.threads > 1 ? { allowSpinning: false } : {}) });
      if (r.ok) peers.push(...r.systems);
      else peerErrors.push(r.message);
    } catch (err) {
      peerErrors.push(`transformers.js: ${err instanceof Error ? err.message : String(err)}`);
    }
    systems.push(...peers.map((p) => ({ id: p.id, family: 'peer' as const, lossy: false, peer: p })));
    const total = o.items.length * systems.length;
    let done = 0;
    // Peers continue from our healed first token, computed on the shipped graph.
    const records = await runHeadline(fast.fp16!, o.items, { systems, maxNewTokens: o.maxNewTokens, onProgress: (l) => o.onProgress?.(l, ++done, total) });
    const tk = fast.fp16!.target.folder.tokenizer;
    const rows = tabulateHeadline(records, systems, o.items, (ids) => tk.decode(ids), base);

    o.onProgress?.('bits per byte');
    const texts = o.qualityItems.map((i) => i.prefix + i.truth + i.suffix);
    const quality: Quality[] = [];
    for (const d of ['fp32', 'fp16', 'int8', 'int4'] as const) {
      quality.push({ system: `fast ${d}`, dtype: d, ...(await bitsPerByte(fast[d]!.target, texts)) });
    }
    return {
      base, items: o.items.map((i) => i.id), maxNewTokens: o.maxNewTokens, builds, kernels, quality, rows, records,
      peers: peers.map((p) => ({ id: p.id, description: p.description })), peerErrors,
    };
  } finally {
    await Promise.all(peers.map((p) => p.dispose().catch(() => undefined)));
    for (const e of engines) await e.dispose();
  }
}
