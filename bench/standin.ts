// The report's `standin` section: the engine at the size users run. A random-weight checkpoint in
// the exact shape of Qwen2.5-Coder-0.5B (bench/checkpoints.ts, deterministic) with the real Qwen2.5
// tokenizer is built by Hasten's builder at int8 and int4 and written as Q8_0 / Q4_0 GGUF for
// llama.cpp (the same quantised numbers). Measured side by side at 1 and 2 threads: decode tokens/s,
// a 1,000-token prefill, the cost of verifying T = 1..16 tokens, each loaded model's RSS (each in
// its own process), and the builder's time. Step cost does not depend on the weights' values;
// acceptance does, so no acceptance figure is ever taken from this model.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { build, BUILDER_VERSION } from '../src/build/builder';
import { CausalModel } from '../src/engine/model/causal';
import { openModelFolder } from '../src/engine/model/folder';
import { CheckpointShape, QWEN25_05B, writeRandomCheckpoint } from './checkpoints';
import { PeerSystem } from './peers/types';

const ROOT = path.resolve(__dirname, '..');
const WORK = path.join(ROOT, 'models', '.work', 'standin');
export const QWEN_TOKENIZER = path.join(ROOT, 'node_modules', '@lenml', 'tokenizer-qwen2_5', 'models');
/** The quick run's stand-in: the same code path at a toy size (the real vocabulary, 2 layers of 64). */
export const TINY_QWEN: CheckpointShape = { ...QWEN25_05B, hidden: 64, layers: 2, heads: 4, kvHeads: 2, headDim: 16, intermediate: 128 };

export interface StandinPoint {
  system: string;
  precision: 'int8' | 'int4';
  threads: number;
  decodeTokensPerSecond: number;
  prefillMs: number;
  prefillTokens: number;
}

export interface StandinResult {
  shape: CheckpointShape;
  params: number;
  contextLength: number;
  builds: { dtype: string; seconds: number; weightBytes: number }[];
  points: StandinPoint[];
  verify: { T: number; relative: number; medianMs: number }[];
  rss: { system: string; precision: string; rssMb: number }[];
  errors: string[];
}

/** The stand-in checkpoint (written once per shape; ~1 GB at full size, bf16 like the real one). */
export function standinCheckpoint(shape: CheckpointShape): string {
  const dir = path.join(WORK, `qwen2-${shape.layers}x${shape.hidden}`);
  if (fs.existsSync(path.join(dir, 'model.safetensors'))) return dir;
  fs.rmSync(dir, { recursive: true, force: true });
  // Shards of at most ~1.5 GB: a Buffer holds at most 2 GiB (the 1.5B shape is 3.1 GB at bf16).
  const bytes = 2 * (shape.vocab * shape.hidden * (shape.tied ? 1 : 2) + shape.layers * (shape.hidden * (shape.heads + 2 * shape.kvHeads) * shape.headDim * 2 + 3 * shape.hidden * shape.intermediate));
  writeRandomCheckpoint(`${dir}.tmp`, shape, { seed: 2025, tokenizerDir: QWEN_TOKENIZER, dtype: 'BF16', shards: Math.max(1, Math.ceil(bytes / 1.5e9)) });
  const cfgFile = path.join(`${dir}.tmp`, 'config.json');
  // The Coder base models stop on <|endoftext|> (151643); the npm tokenizer's config is the Instruct one.
  fs.writeFileSync(cfgFile, JSON.stringify({ ...JSON.parse(fs.readFileSync(cfgFile, 'utf8')), eos_token_id: 151643, bos_token_id: 151643 }, null, 2));
  fs.renameSync(`${dir}.tmp`, dir);
  return dir;
}

/**
 * The stand-in built at a dtype (cached under models/.work/standin while the builder version and context
 * hold). `rebuild` builds it again whatever the cache holds, so the time returned is this run's: the
 * `standin` section times its own builds (a cached build's time was measured whenever and under whatever
 * load it was made: one made beside a training run recorded 153.7 s against 13.3 s idle).
 */
export async function builtAt(src: string, dtype: 'int8' | 'int4', contextLength: number, rebuild = false): Promise<{ dir: string; seconds: number; weightBytes: number }> {
  const out = path.join(WORK, `${path.basename(src)}-${dtype}`);
  const stamp = path.join(out, 'hasten-bench.json');
  if (!rebuild && fs.existsSync(stamp)) {
    const s = JSON.parse(fs.readFileSync(stamp, 'utf8')) as { builder: string; seconds: number; weightBytes: number; contextLength: number };
    // Builds from before the CPU graph lack it (the builder's version did not change with it).
    const current = s.builder === BUILDER_VERSION && s.contextLength === contextLength && fs.existsSync(path.join(out, 'onnx', 'model_fast_cpu.onnx'));
    if (current) return { dir: out, seconds: s.seconds, weightBytes: s.weightBytes };
  }
  const b = await build({ from: src, out, dtype, variants: ['fast', 'tree', 'cpu'], contextLength, force: true });
  fs.writeFileSync(stamp, JSON.stringify({ builder: BUILDER_VERSION, seconds: b.seconds, weightBytes: b.weightBytes, contextLength }));
  return { dir: out, seconds: b.seconds, weightBytes: b.weightBytes };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Greedy decode of n tokens after `prompt` on our engine: prefill ms and decode tokens/s. */
async function oursDecode(model: CausalModel, prompt: number[], n: number): Promise<{ prefillMs: number; tps: number }> {
  model.reset();
  const t0 = performance.now();
  let logits = await model.forward(prompt, null, undefined, { lastOnly: true });
  model.commit(prompt.map((_, i) => i));
  const t1 = performance.now();
  let row = logits.row(prompt.length - 1);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let j = 1; j < row.length; j++) if (row[j]! > row[best]!) best = j;
    logits = await model.forward([best], null);
    model.commit([0]);
    row = logits.row(0);
  }
  return { prefillMs: t1 - t0, tps: (n / (performance.now() - t1)) * 1000 };
}

/** RSS (MB) of a fresh process that loads one model and runs one step. */
function rssOf(kind: 'ours' | 'llama.cpp', target: string, threads: number, quant: string): number {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(__dirname, 'standinRss.ts'), kind, target, String(threads), quant], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });
  const m = /rss=(\d+)/.exec(r.stdout ?? '');
  if (!m) throw new Error(`standin rss (${kind}): ${(r.stderr ?? '').trim().split('\n').slice(-2).join(' ')}`);
  return Number(m[1]) / 2 ** 20;
}

export interface StandinOptions {
  shape: CheckpointShape;
  contextLength: number;
  threads: number[];
  decodeTokens: number;
  prefillTokens: number;
  verifyRepeats: number;
  onProgress?: (label: string) => void;
}

/** Runs the section; see the file header. */
export async function runStandin(o: StandinOptions): Promise<StandinResult> {
  const errors: string[] = [];
  o.onProgress?.('stand-in checkpoint');
  const src = standinCheckpoint(o.shape);
  const builds: StandinResult['builds'] = [];
  const dirs: Record<string, string> = {};
  for (const dtype of ['int8', 'int4'] as const) {
    o.onProgress?.(`build ${dtype}`);
    const b = await builtAt(src, dtype, o.contextLength, true);
    builds.push({ dtype, seconds: b.seconds, weightBytes: b.weightBytes });
    dirs[dtype] = b.dir;
  }
  const folder = openModelFolder(dirs.int8!);
  const tk = folder.tokenizer;
  const code = fs.readFileSync(path.join(ROOT, 'src', 'engine', 'engine.ts'), 'utf8').repeat(4);
  const all = tk.encode(code);
  const prompt = all.slice(0, 200);
  const long = all.slice(0, o.prefillTokens);
  const points: StandinPoint[] = [];
  let verify: StandinResult['verify'] = [];
  const { openLlamaCpp } = await import('./peers/llamacpp');
  for (const threads of o.threads) {
    for (const precision of ['int8', 'int4'] as const) {
      o.onProgress?.(`${precision} at ${threads} thread(s)`);
      const model = await CausalModel.open(openModelFolder(dirs[precision]!), { provider: 'cpu', threads, shared: false }, true);
      let peer: PeerSystem | undefined;
      try {
        const r = await openLlamaCpp({ targetDir: src, threads, contextSize: o.contextLength, quant: precision === 'int8' ? 'Q8_0' : 'Q4_0', plainOnly: true });
        if (r.ok) peer = r.systems[0];
        else errors.push(r.message);
        // Interleaved, twice each, the first of each as warm-up.
        const ours: { prefillMs: number; tps: number }[] = [];
        const theirs: { prefillMs: number; tps: number }[] = [];
        for (let rep = 0; rep < 3; rep++) {
          ours.push(await oursDecode(model, prompt, o.decodeTokens));
          if (peer) {
            const g = await peer.generate(prompt, o.decodeTokens + 1, []);
            if (g.error) errors.push(`llama.cpp: ${g.error}`);
            else theirs.push({ prefillMs: g.prefillMs, tps: (Math.max(0, g.tokens - 1) / g.decodeMs) * 1000 });
          }
        }
        const pre = await oursDecode(model, long, 1);
        const preTheirs = peer ? await peer.generate(long, 1, []) : null;
        points.push({ system: 'hasten', precision, threads, decodeTokensPerSecond: median(ours.slice(1).map((x) => x.tps)), prefillMs: pre.prefillMs, prefillTokens: long.length });
        if (peer && theirs.length > 1) {
          points.push({ system: `llama.cpp ${precision === 'int8' ? 'Q8_0' : 'Q4_0'}`, precision, threads, decodeTokensPerSecond: median(theirs.slice(1).map((x) => x.tps)), prefillMs: preTheirs?.prefillMs ?? NaN, prefillTokens: long.length });
        }
        if (precision === 'int4' && threads === o.threads[o.threads.length - 1]) {
          o.onProgress?.('verify cost');
          const { measureVerifyCost } = await import('./limit');
          const v = await measureVerifyCost(model, prompt, { maxT: 16, repeats: o.verifyRepeats });
          verify = v.points.map((p) => ({ T: p.T, relative: p.relative, medianMs: p.medianMs }));
        }
      } finally {
        await peer?.dispose().catch(() => undefined);
        await model.dispose();
      }
    }
  }
  const rss: StandinResult['rss'] = [];
  for (const precision of ['int8', 'int4'] as const) {
    o.onProgress?.(`RSS ${precision}`);
    try {
      rss.push({ system: 'hasten', precision, rssMb: rssOf('ours', dirs[precision]!, 1, precision) });
      rss.push({ system: 'llama.cpp', precision: precision === 'int8' ? 'Q8_0' : 'Q4_0', rssMb: rssOf('llama.cpp', src, 1, precision === 'int8' ? 'Q8_0' : 'Q4_0') });
    } catch (err) {
      errors.push(err instanceof Error ? err.message : String(err));
    }
  }
  const s = o.shape;
  const count = s.vocab * s.hidden + s.layers * (2 * s.hidden + s.hidden * (s.heads + 2 * s.kvHeads) * s.headDim + (s.heads + 2 * s.kvHeads) * s.headDim + s.heads * s.headDim * s.hidden + 3 * s.hidden * s.intermediate) + s.hidden;
  return { shape: o.shape, params: count, contextLength: o.contextLength, builds, points, verify, rss, errors };
}
