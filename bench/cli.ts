// Hasten from plain Node, no VS Code:
//   complete  completes a file at a line and column and prints the completion with its step statistics
//   bench     runs strategies over the held-out workloads (or, with --prompts tuning, the tuning prompts)
//             against autoregressive decoding
// Arguments are parsed with node's own util.parseArgs (standard library, typed, strict).
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { CURSOR_LINES, readConfig } from '../src/config';
import { CursorLine, Engine, HastenError, isStrategy, PROVIDERS, Provider, STRATEGY_IDS, Strategy, summarise } from '../src/engine';
import { BUILD_USAGE, buildCommand } from './build';
import { DOWNLOAD_USAGE, downloadCommand } from './download';
import { EXITS_USAGE, exitsCommand } from './exits';
import { MASKPREDICT_USAGE, maskPredictCommand } from './maskpredict';
import { formatTable, runBench, tabulate } from './run';
import { BenchWorkspace, loadWorkloads, promptSetFile, WORKLOAD_KINDS, WorkloadKind } from './workloads';

const ROOT = path.resolve(__dirname, '..');
const USAGE = `usage:
  hasten complete --file F --line L --column C [--strategy S] [--max-tokens N] [--cursor-line middle|prefix] [--json] [common options]
  hasten bench [--strategies a,b] [--workloads line-start,mid-line,repetitive] [--prompts heldout|tuning] [--limit N] [--max-tokens N] [--json FILE] [--quick] [common options]
  hasten kv-rollback [--limit N] [common options]   rollback by masked holes vs copying the cache every step
${BUILD_USAGE}
${DOWNLOAD_USAGE}
${EXITS_USAGE}
${MASKPREDICT_USAGE}
common options: --model DIR (default models/hasten-target)  --draft DIR|none  --provider ${PROVIDERS.join('|')}  --threads N
strategies: ${STRATEGY_IDS.join(', ')}`;

/** The editor's default (hasten.context.cursorLine), so the CLI's prompt is the editor's. */
const CURSOR_LINE_DEFAULT = readConfig({ get: <T>(_k: string, d: T) => d }).completion.cursorLine;

const OPTIONS = {
  file: { type: 'string' }, line: { type: 'string' }, column: { type: 'string' }, strategy: { type: 'string', default: 'auto' },
  'max-tokens': { type: 'string', default: '48' }, 'cursor-line': { type: 'string', default: CURSOR_LINE_DEFAULT }, json: { type: 'string' }, model: { type: 'string' }, draft: { type: 'string' },
  provider: { type: 'string', default: 'cpu' }, threads: { type: 'string', default: '0' }, strategies: { type: 'string' },
  workloads: { type: 'string' }, prompts: { type: 'string', default: 'heldout' }, limit: { type: 'string' }, quick: { type: 'boolean', default: false }, help: { type: 'boolean', default: false },
} as const;

function fail(msg: string): never {
  console.error(`hasten: ${msg}\n${USAGE}`);
  process.exit(2);
}

function int(v: string | undefined, name: string, min = 0): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) fail(`--${name} must be an integer >= ${min} (got ${v})`);
  return n;
}

async function loadEngine(v: Record<string, string | boolean | undefined>, graph?: 'fast' | 'standard'): Promise<Engine> {
  const provider = v.provider as string;
  if (!(PROVIDERS as readonly string[]).includes(provider)) fail(`unknown provider ${provider}`);
  return Engine.load({
    modelDir: (v.model as string | undefined) ?? path.join(ROOT, 'models', 'hasten-target'),
    ...(v.draft === 'none' ? { draftDir: null } : v.draft ? { draftDir: v.draft as string } : {}),
    runtime: { provider: provider as Provider, threads: int(v.threads as string, 'threads') },
    ...(graph ? { graph } : {}),
    log: (level, m) => console.error(`[${level}] ${m}`),
  });
}

async function complete(v: Record<string, string | boolean | undefined>): Promise<void> {
  if (!v.file || !v.line || !v.column) fail('complete needs --file, --line and --column (1-based)');
  const strategy = v.strategy as string;
  if (!isStrategy(strategy)) fail(`unknown strategy ${strategy}`);
  const cursorLine = v['cursor-line'] as CursorLine;
  if (!CURSOR_LINES.includes(cursorLine)) fail(`--cursor-line must be one of ${CURSOR_LINES.join(', ')}`);
  const text = fs.readFileSync(v.file as string, 'utf8');
  const lines = text.split('\n');
  const line = int(v.line as string, 'line', 1);
  const column = int(v.column as string, 'column', 1);
  if (line > lines.length) fail(`${v.file} has ${lines.length} lines`);
  const offset = lines.slice(0, line - 1).reduce((s, l) => s + l.length + 1, 0) + Math.min(column - 1, lines[line - 1]!.length);
  const engine = await loadEngine(v);
  try {
    const ctrl = new AbortController();
    process.once('SIGINT', () => ctrl.abort());
    let last;
    for await (const u of engine.complete({ prefix: text.slice(0, offset), suffix: text.slice(offset), cursorLine, strategy, maxNewTokens: int(v['max-tokens'] as string, 'max-tokens', 1), signal: ctrl.signal })) {
      if (!v.json) process.stdout.write(u.revised ? `\n[revised] ${u.delta}` : u.delta);
      last = u;
    }
    const t = last!.trace;
    const s = summarise(t);
    if (v.json !== undefined) {
      console.log(JSON.stringify({ completion: last!.text, trace: t, summary: s }, null, 1));
    } else {
      console.log(`\n---\n${t.strategy} on ${t.model}: ${t.tokens} tokens in ${s.steps} steps, ${s.tokensPerSecond.toFixed(1)} tok/s, ` +
        `acceptance ${(100 * s.acceptanceRate).toFixed(1)}%, ${s.meanAcceptedPerStep.toFixed(2)} accepted/step, prefill ${t.prefillMs.toFixed(0)} ms ` +
        `(${t.reusedTokens}/${t.promptTokens} prompt tokens reused), stop: ${t.stopReason}`);
    }
  } finally {
    await engine.dispose();
  }
}

async function bench(v: Record<string, string | boolean | undefined>): Promise<void> {
  const strategies = ((v.strategies as string | undefined)?.split(',') ?? ['draft-model', 'token-tree', 'prompt-lookup', 'retrieval']) as string[];
  for (const s of strategies) if (!isStrategy(s)) fail(`unknown strategy ${s}`);
  const kinds = ((v.workloads as string | undefined)?.split(',') ?? [...WORKLOAD_KINDS]) as WorkloadKind[];
  for (const k of kinds) if (!WORKLOAD_KINDS.includes(k)) fail(`unknown workload ${k}`);
  const limit = v.limit ? int(v.limit as string, 'limit', 1) : v.quick ? 4 : Infinity;
  const set = v.prompts as string;
  const items = loadWorkloads(kinds, limit, promptSetFile(set, fail));
  const engine = await loadEngine(v);
  try {
    // Retrieval searches the sources the prompts were cut from, standing in for the workspace,
    // each as the editor holds it at the cursor of the item being completed (BenchWorkspace).
    const workspace = new BenchWorkspace([engine.retrieval]);
    await workspace.load(items);
    const t0 = Date.now();
    const records = await runBench(engine, items, {
      beforeItem: (it) => workspace.at(it),
      strategies: strategies as Strategy[], maxNewTokens: int(v['max-tokens'] as string, 'max-tokens', 1),
      onProgress: (done, total, label) => process.stderr.write(`\r[${'#'.repeat(Math.round((30 * done) / total)).padEnd(30)}] ${done}/${total} ${label}`.padEnd(100)),
    });
    process.stderr.write('\n');
    const rows = tabulate(records);
    console.log(formatTable(rows));
    console.log(`\n${items.length} prompts x ${strategies.length + 1} strategies in ${((Date.now() - t0) / 1000).toFixed(0)} s; speed-up is decode tokens/s against autoregressive on the same prompts, interleaved in one run.`);
    if (typeof v.json === 'string') {
      fs.writeFileSync(v.json, JSON.stringify({ model: engine.target.folder.name, draft: engine.draft?.folder.name ?? null, prompts: set, maxNewTokens: v['max-tokens'], rows, records }, null, 1));
      console.log(`wrote ${v.json}`);
    }
  } finally {
    await engine.dispose();
  }
}

/**
 * Rollback cost, measured: speculative decoding over held-out prompts with our rollback (rejected
 * slots become masked holes, compacted when over a quarter of the cache), against what copying the
 * cache to trim it would cost after every step (a compaction is exactly that copy, timed on the
 * real cache at each step's length).
 */
async function kvRollback(v: Record<string, string | boolean | undefined>): Promise<void> {
  const items = loadWorkloads(['line-start', 'repetitive'], v.limit ? int(v.limit as string, 'limit', 1) : 8);
  // Holes exist only on the standard graph; the fast graph's in-place cache has none to measure.
  const engine = await loadEngine(v, 'standard');
  try {
    const cache = engine.target.cache;
    let steps = 0;
    let naiveMs = 0;
    let oursMs = 0;
    let compactions = 0;
    let slots = 0;
    for (const item of items) {
      await engine.reset();
      const before = { ms: cache.compactMs, n: cache.compactions };
      let trace;
      for await (const u of engine.complete({ prefix: item.prefix, suffix: item.suffix, strategy: 'draft-model', maxNewTokens: 48 })) trace = u.trace;
      oursMs += cache.compactMs - before.ms;
      compactions += cache.compactions - before.n;
      const n = trace!.steps.length;
      steps += n;
      slots += cache.length * n;
      // The naive alternative: one full copy of the cache per verification step, timed on this cache.
      const t0 = performance.now();
      for (let k = 0; k < n; k++) cache.compact();
      naiveMs += performance.now() - t0;
    }
    console.log(`${items.length} prompts, ${steps} verification steps, mean cache length ${(slots / steps).toFixed(0)} slots`);
    console.log(`masked holes + occasional compaction: ${compactions} compactions, ${oursMs.toFixed(2)} ms in all (${(oursMs / steps).toFixed(4)} ms/step)`);
    console.log(`copying the cache every step:        ${naiveMs.toFixed(2)} ms in all (${(naiveMs / steps).toFixed(4)} ms/step)`);
  } finally {
    await engine.dispose();
  }
}

async function main(): Promise<void> {
  const [cmd, ...rest] = process.argv.slice(2);
  if (cmd === 'calibrate' || cmd === 'exit-sweep') return exitsCommand(cmd, rest);
  if (cmd === 'maskpredict-sweep') return maskPredictCommand(rest);
  if (cmd === 'build') return buildCommand(rest);
  if (cmd === 'download') return void (await downloadCommand(rest));
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: OPTIONS, strict: true });
  } catch (err) {
    fail((err as Error).message);
  }
  const v = parsed.values as Record<string, string | boolean | undefined>;
  if (v.help || !cmd) {
    console.log(USAGE);
    return;
  }
  if (cmd === 'complete') return complete(v);
  if (cmd === 'bench') return bench(v);
  if (cmd === 'kv-rollback') return kvRollback(v);
  fail(`unknown command ${cmd}`);
}

main().catch((err: unknown) => {
  console.error(`hasten: ${err instanceof HastenError ? err.message : err instanceof Error ? err.stack : String(err)}`);
  process.exit(1);
});
