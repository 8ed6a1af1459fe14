// What copying the KV cache costs a decode step on the CPU, side by side in one process: a checkpoint
// (default: the bundled target, at its shipped fp16 weights) built into a temporary folder, decoded greedily after
// held-out prompts cut to each chosen length, on
//   - the CPU graph (model_fast_cpu.onnx): KV buffers read as inputs, only the new rows come out;
//   - the GroupQueryAttention fast graph (model_fast.onnx): buffers written in place as presents and
//     fetched back, which onnxruntime-node copies whole every step;
//   - the standard graph (model.onnx): K/V grow by concatenation, presents fetched back.
// Interleaved per prompt; tokens must agree. A prompt of N tokens is the last N tokens of held-out code
// (earlier workload files, then the item's prefix), so long prompts are real code, not repetition;
// a length is capped at the context less the new tokens. Besides wall-clock tokens/s it reports this
// process's CPU time per token, which a busy machine disturbs less (the sessions run one thread each).
// It also reports the prefill of each prompt (one forward, last row only).
//   npx tsx bench/kvcopy.ts [--tokens 256,1000] [--limit N] [--max-tokens N] [--threads N] [--from CHECKPOINT --dtype D]
//                           [--compare BUILT_FOLDER] [--spin]
// --compare runs a fourth graph beside them: the CPU graph of another build of the same checkpoint and dtype
// (e.g. one an older builder made), through the same engine. --spin lets onnxruntime's threads spin between
// kernels (the standin section's setting); by default they sleep, as the engine's do.
// e.g. --from models/.work/standin/qwen2-24x896 --dtype int4: the 0.5B stand-in the standin section writes.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { build } from '../src/build/builder';
import { Dtype } from '../src/build/weights';
import { CausalModel } from '../src/engine/model/causal';
import { openModelFolder } from '../src/engine/model/folder';
import { argmax } from '../src/engine/sampling';
import { loadWorkloads } from './workloads';

const TARGET = path.resolve(__dirname, '..', 'models', 'hasten-target');
const GRAPHS = ['cpu graph', 'in-place fast graph', 'standard graph', 'compared cpu graph'] as const;

/** Prefill time (wall ms) of `prompt`; decode time of `n` greedy tokens after it (wall ms, and this process's CPU ms); the tokens. */
async function decode(m: CausalModel, prompt: number[], n: number): Promise<{ prefillMs: number; ms: number; cpuMs: number; tokens: number[] }> {
  m.reset();
  const p0 = performance.now();
  let l = await m.forward(prompt, null, undefined, { lastOnly: true });
  const prefillMs = performance.now() - p0;
  m.commit(prompt.map((_, i) => i));
  const tokens: number[] = [];
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  for (let s = 0; s < n; s++) {
    tokens.push(argmax(l.row(l.rows - 1)));
    l = await m.forward([tokens[s]!], null);
    m.commit([0]);
  }
  const c = process.cpuUsage(c0);
  return { prefillMs, ms: performance.now() - t0, cpuMs: (c.user + c.system) / 1000, tokens };
}

async function main(): Promise<void> {
  const { values: v } = parseArgs({ options: { tokens: { type: 'string', default: '256,1000' }, limit: { type: 'string', default: '4' }, 'max-tokens': { type: 'string', default: '48' }, threads: { type: 'string', default: '1' }, from: { type: 'string', default: TARGET }, dtype: { type: 'string', default: 'fp16' }, compare: { type: 'string' }, spin: { type: 'boolean', default: false } } });
  const lengths = v.tokens.split(',').map(Number);
  const n = Number(v['max-tokens']);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hasten-kvcopy-'));
  const load0 = os.loadavg()[0]!;
  try {
    await build({ from: v.from, out: path.join(tmp, 'm'), dtype: v.dtype as Dtype, variants: ['standard', 'fast', 'cpu'] });
    const folder = openModelFolder(path.join(tmp, 'm'));
    const runtime = { provider: 'cpu' as const, threads: Number(v.threads), shared: !v.spin };
    const models = [
      await CausalModel.open(folder, runtime, false),
      await CausalModel.open({ ...folder, files: { ...folder.files, fastCpu: undefined } }, runtime, false),
      await CausalModel.open(folder, runtime, false, { fast: false }),
      ...(v.compare ? [await CausalModel.open(openModelFolder(v.compare), runtime, false)] : []),
    ];
    const graphs = GRAPHS.slice(0, models.length);
    const items = loadWorkloads(undefined, Number(v.limit));
    const code = folder.tokenizer.encode(items.map((it) => it.prefix).join('\n'));
    console.log(`${path.relative(process.cwd(), path.resolve(v.from)) || v.from} (${v.dtype} weights), ${items.length} held-out prompts per length, ${n} new tokens, ${runtime.threads} thread(s), onnxruntime-node ${require('onnxruntime-node/package.json').version}`);
    console.log(`prompt tokens | ${graphs.map((g) => `${g} tok/s (CPU ms/token)`).join(' | ')} | cpu graph vs standard | cpu graph vs in-place${v.compare ? ' | compared vs in-place | cpu graph vs compared' : ''} | identical | prefill ms (${graphs.join(' / ')})`);
    for (const asked of lengths) {
      const len = Math.min(asked, models[0]!.contextLength - n - 1);
      const ms = graphs.map(() => 0);
      const cpuMs = graphs.map(() => 0);
      const prefill = graphs.map(() => 0);
      let same = 0;
      for (const [i, it] of items.entries()) {
        const own = folder.tokenizer.encode(it.prefix);
        const prompt = (own.length >= len ? own : [...code.slice(0, code.length - (i * 97) % 500), ...own]).slice(-len);
        const runs = [];
        // The graph that goes first rotates from prompt to prompt.
        for (let k = 0; k < models.length; k++) {
          const g = (i + k) % models.length;
          const r = await decode(models[g]!, prompt, n);
          ms[g]! += r.ms;
          cpuMs[g]! += r.cpuMs;
          prefill[g]! += r.prefillMs / items.length;
          runs.push(r.tokens.join());
        }
        if (new Set(runs).size === 1) same++;
      }
      const tps = ms.map((t) => (items.length * n * 1000) / t);
      const cpt = cpuMs.map((t) => t / (items.length * n));
      const ratio = (a: number, b: number) => `${(tps[a]! / tps[b]!).toFixed(2)}x (CPU ${(cpt[b]! / cpt[a]!).toFixed(2)}x)`;
      console.log(`${len} | ${tps.map((t, g) => `${t.toFixed(0)} (${cpt[g]!.toFixed(2)})`).join(' | ')} | ${ratio(0, 2)} | ${ratio(0, 1)}${v.compare ? ` | ${ratio(3, 1)} | ${ratio(0, 3)}` : ''} | ${same}/${items.length} | ${prefill.map((t) => t.toFixed(0)).join(' / ')}`);
    }
    for (const m of models) await m.dispose();
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
    console.log(`load average ${load0.toFixed(1)} at the start, ${os.loadavg()[0]!.toFixed(1)} at the end (${os.cpus().length} cores)`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
