// npm run bench:ipc: what the engine process's boundary adds to each completion (issue 17's target:
// ≤ 2 ms at p50). Each workload prompt is completed by the engine in its own process; for each
// completion the caller's wall time (request sent → last message received) minus the time the
// engine process spent on it (request arrived → last message sent) is the boundary's cost: the
// request's and the final message's transit, and the wait for each event loop to pick them up.
// The cost of cloning the streamed updates inside the engine process is in neither figure, so the
// same prompts also run in this process's own Engine, interleaved, and the median of the paired
// differences in total time is reported beside it (noisier: it includes decode-time jitter).
//
// Options: --prompts N (default 60)  --max-tokens N (default 48)  --json FILE
//          --entry FILE (the engine process's entry; default the .ts source through tsx, e.g.
//          dist/engineProcess.js after `npm run build` for what ships)
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Engine } from '../src/engine';
import { ProcessEngine, type CompletionTiming } from '../src/completion/processEngine';
import { loadWorkloads } from './workloads';

const ROOT = path.resolve(__dirname, '..');
const { values: args } = parseArgs({ options: { prompts: { type: 'string', default: '60' }, 'max-tokens': { type: 'string', default: '48' }, json: { type: 'string' }, entry: { type: 'string' } } });
const N = Number(args.prompts);
const MAX_TOKENS = Number(args['max-tokens']);

const quantile = (xs: readonly number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
};

type Completer = Pick<Engine, 'complete'> | ProcessEngine;

async function run(e: Completer, prefix: string, suffix: string): Promise<{ ms: number; text: string; updates: number }> {
  const t0 = performance.now();
  let text = '';
  let updates = 0;
  for await (const u of e.complete({ prefix, suffix, strategy: 'autoregressive', maxNewTokens: MAX_TOKENS })) {
    text = u.text;
    updates++;
  }
  return { ms: performance.now() - t0, text, updates };
}

async function main(): Promise<void> {
  const modelDir = path.join(ROOT, 'models', 'hasten-target');
  const options = { modelDir, draftDir: null, runtime: { provider: 'cpu' as const, threads: 1 } };
  const local = await Engine.load(options);
  const remote = await ProcessEngine.load(options, path.resolve(args.entry ?? path.join(ROOT, 'src', 'completion', 'engineProcess.ts')));
  const timings: CompletionTiming[] = [];
  remote.onDidTime((t) => timings.push(t));
  const items = loadWorkloads().slice(0, N);
  // Warm both (first-run allocations, caches), then forget the prompt-reuse state between runs.
  for (const it of items.slice(0, 3)) {
    await run(local, it.prefix, it.suffix);
    await run(remote, it.prefix, it.suffix);
  }
  timings.length = 0;
  const paired: number[] = [];
  /** The engine process's own time minus this process's total: a slower decode there, not the boundary. */
  const insideDiff: number[] = [];
  let updates = 0;
  let mismatches = 0;
  for (const [i, it] of items.entries()) {
    await local.reset();
    await remote.reset();
    // Interleaved, alternating which goes first, so drift on a shared machine hits both alike.
    let a, b;
    if (i % 2 === 0) {
      a = await run(local, it.prefix, it.suffix);
      b = await run(remote, it.prefix, it.suffix);
    } else {
      b = await run(remote, it.prefix, it.suffix);
      a = await run(local, it.prefix, it.suffix);
    }
    paired.push(b.ms - a.ms);
    insideDiff.push(timings.at(-1)!.engineMs - a.ms);
    updates += b.updates;
    if (a.text !== b.text) mismatches++;
  }
  const boundary = timings.map((t) => t.callerMs - t.engineMs);
  const result = {
    prompts: items.length,
    maxTokens: MAX_TOKENS,
    meanUpdatesPerCompletion: updates / items.length,
    boundaryMs: { p50: quantile(boundary, 0.5), p95: quantile(boundary, 0.95), max: Math.max(...boundary) },
    pairedTotalDiffMs: { p50: quantile(paired, 0.5), p95: quantile(paired, 0.95) },
    pairedEngineDiffMs: { p50: quantile(insideDiff, 0.5), p95: quantile(insideDiff, 0.95) },
    engineMsP50: quantile(timings.map((t) => t.engineMs), 0.5),
    textMismatches: mismatches,
  };
  console.log(
    `engine process boundary over ${result.prompts} completions (~${result.meanUpdatesPerCompletion.toFixed(0)} streamed updates each, decode p50 ${result.engineMsP50.toFixed(0)} ms):\n` +
      `  caller wait − engine time: p50 ${result.boundaryMs.p50.toFixed(2)} ms, p95 ${result.boundaryMs.p95.toFixed(2)} ms, max ${result.boundaryMs.max.toFixed(2)} ms  [target p50 ≤ 2 ms]\n` +
      `  paired total, process − in-process: p50 ${result.pairedTotalDiffMs.p50.toFixed(2)} ms, p95 ${result.pairedTotalDiffMs.p95.toFixed(2)} ms (includes decode jitter)\n` +
      `  of which inside the engine process (its decode time − in-process total): p50 ${result.pairedEngineDiffMs.p50.toFixed(2)} ms\n` +
      `  texts differing between the two: ${mismatches}/${result.prompts}`,
  );
  if (args.json) fs.writeFileSync(args.json, JSON.stringify(result, null, 2));
  await remote.dispose();
  await local.dispose();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
