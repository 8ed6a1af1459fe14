// npm run bench:provider: the issue-7 targets, measured by driving the real inline provider
// (src/completion/provider.ts, with the service, cache, scheduler, policy, ring and the engine on
// the bundled models) keystroke by keystroke against a fake document, outside VS Code.
//
//   latency     held-out workload items are typed word by word (50 ms between keys, a pause after
//               each word); keystroke → first ghost text is the time from the last key of a word
//               to the provider resolving with a suggestion. Every key cancels the previous
//               request, as VS Code does; growing suggestions are asked for again (streaming).
//   event loop  perf_hooks.monitorEventLoopDelay over both phases: the longest block.
//   memory      RSS of this process (the extension host's side) and of the engine process after
//               100 completions and after N more at fresh positions (each decode finished, then
//               the prefetch it starts cancelled by the next request).
//
// Options: --items N (latency items, default 20)  --words N (per item, default 3)
//          --completions N (memory phase, default 1000)  --json FILE  --strategy NAME (default auto)
//          --no-cpu-arena (ONNX Runtime sessions in the engine process without their CPU memory arena)
import Module from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { FakeDocument, FakeToken } from './fakeDocument';
import { loadWorkloads, type WorkloadItem } from './workloads';

// The provider imports 'vscode'; hand it the stub before anything loads it.
const resolve = (Module as unknown as { _resolveFilename: (r: string, ...a: unknown[]) => string })._resolveFilename;
(Module as unknown as { _resolveFilename: typeof resolve })._resolveFilename = function (request: string, ...rest: unknown[]) {
  return request === 'vscode' ? path.join(__dirname, 'vscode-stub.ts') : resolve.call(this, request, ...rest);
};

/* eslint-disable @typescript-eslint/no-require-imports */
const { readConfig } = require('../src/config') as typeof import('../src/config');
const { EngineHost } = require('../src/completion/engineHost') as typeof import('../src/completion/engineHost');
const { TraceHistory } = require('../src/completion/history') as typeof import('../src/completion/history');
const { HastenInlineProvider } = require('../src/completion/provider') as typeof import('../src/completion/provider');
const { ContextRing, DEFAULT_RING } = require('../src/completion/ring') as typeof import('../src/completion/ring');
const { CompletionService } = require('../src/completion/service') as typeof import('../src/completion/service');
const { RetrievalFeed } = require('../src/completion/retrievalFeed') as typeof import('../src/completion/retrievalFeed');
const { ProcessEngine } = require('../src/completion/processEngine') as typeof import('../src/completion/processEngine');
/* eslint-enable @typescript-eslint/no-require-imports */

type Provider = InstanceType<typeof HastenInlineProvider>;

const ROOT = path.resolve(__dirname, '..');
const KEY_MS = 50;
const PAUSE_MS = 700;
const LANG: Record<string, string> = { python: 'python', javascript: 'javascript', typescript: 'typescript' };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const quantile = (xs: number[], q: number) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};
interface LatencySummary { samples: number; p50Ms: number; p95Ms: number; maxMs: number }
const latencySummary = (xs: number[]): LatencySummary => ({ samples: xs.length, p50Ms: quantile(xs, 0.5), p95Ms: quantile(xs, 0.95), maxMs: Math.max(...xs) });
const mb = (b: number) => b / 2 ** 20;

/** The document's view of one provider call: its own token, cancelled by the next keystroke. */
class Typist {
  private token = new FakeToken();
  private offset: number;

  constructor(private readonly provider: Provider, readonly doc: FakeDocument, offset: number) {
    this.offset = offset;
  }

  /** Types one key and asks the provider, as VS Code does on every edit. */
  key(ch: string): Promise<unknown> {
    this.token.cancel();
    this.doc.insert(this.offset, ch);
    this.offset += ch.length;
    return this.ask();
  }

  /** Asks for a suggestion at the cursor (a keystroke, or a re-trigger while streaming). */
  ask(): Promise<unknown> {
    this.token.cancel();
    const token = (this.token = new FakeToken());
    const pos = this.doc.positionAt(this.offset);
    return this.provider.provideInlineCompletionItems(this.doc as never, pos as never, {} as never, token as never);
  }
}

/** Splits the truth into words: runs up to and including a space, punctuation or newline, at most 8 keys. */
function words(truth: string, n: number): string[] {
  const out: string[] = [];
  let w = '';
  for (const ch of truth) {
    w += ch;
    if (/[\s.,;:()[\]{}]/.test(ch) || w.length >= 8) {
      out.push(w);
      w = '';
      if (out.length >= n) break;
    }
  }
  return out;
}

async function main(): Promise<void> {
  const { values: v } = parseArgs({ options: { items: { type: 'string', default: '20' }, words: { type: 'string', default: '3' }, completions: { type: 'string', default: '1000' }, json: { type: 'string' }, strategy: { type: 'string' }, 'no-cpu-arena': { type: 'boolean', default: false } } });
  // The engine process inherits the environment: preload the arena switch there (an experiment, not a setting).
  if (v['no-cpu-arena']) process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --require ${path.join(__dirname, 'noCpuArena.cjs')}`.trim();
  // --strategy fixes the decoding strategy (default: the setting's default, auto).
  const cfg = readConfig({ get: <T>(k: string, d: T) => (k === 'strategy' && v.strategy ? (v.strategy as T) : d) });
  // What this machine does to an idle event loop (other processes, the OS), to read the figures against.
  const idle = monitorEventLoopDelay({ resolution: 1 });
  idle.enable();
  await sleep(5000);
  idle.disable();
  const log = { trace() {}, debug() {}, info() {}, warn: (m: string) => console.error(`[warn] ${m}`), error: (m: string) => console.error(`[error] ${m}`) };
  const host = new EngineHost(path.join(ROOT, 'models'), log, (o) => ProcessEngine.load(o, path.join(ROOT, 'src', 'completion', 'engineProcess.ts')));
  const loadStart = performance.now();
  await host.load(cfg.engine);
  if (!host.engine) throw new Error(`no engine: ${JSON.stringify(host.status)}`);
  const loadMs = performance.now() - loadStart;
  const history = new TraceHistory();
  let finished = 0;
  history.onDidRecordTrace((r) => !r.prefetch && finished++);
  // Which decoders ran (auto picks per request), so a step in the engine's RSS can be matched to a first use.
  const decoders = new Map<string, number>();
  history.onDidRecordTrace((r) => decoders.set(`${r.trace.strategy}/${r.trace.drafter}`, (decoders.get(`${r.trace.strategy}/${r.trace.drafter}`) ?? 0) + 1));
  const service = new CompletionService({ engine: () => host.engine, decode: () => cfg.decode, completion: () => cfg.completion, log, history });
  const ring = new ContextRing({ ...DEFAULT_RING, capacity: cfg.context.ringChunks, chunkLines: cfg.context.chunkLines });
  const provider = new HastenInlineProvider({ service, ring, config: () => cfg.completion, extraChars: () => cfg.context.extraChars });
  const items = loadWorkloads().filter((i) => i.truth.trim().length > 0);
  const feed = new RetrievalFeed(() => host.engine?.retrieval, () => cfg.context.retrievalMaxFileChars, log);
  items.slice(0, 40).forEach((it, k) => feed.schedule(`mem://${k}`, () => it.prefix + it.truth + it.suffix, 0));
  await feed.flush();
  const load0 = os.loadavg()[0]!;

  // Phase 1: keystroke → first ghost text.
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  /** The first word typed in each new document (its prompt not yet in the KV cache), and the words after it. */
  const firstWord: number[] = [];
  const laterWords: number[] = [];
  let none = 0;
  let current: Typist | undefined;
  const sub = service.onDidExtend(() => void current?.ask());
  const latencyItems = items.filter((_, k) => k % Math.max(1, Math.floor(items.length / Number(v.items))) === 0).slice(0, Number(v.items));
  for (const [k, it] of latencyItems.entries()) {
    const doc = new FakeDocument({ toString: () => `mem://typing/${k}` }, LANG[it.lang] ?? it.lang, it.prefix + it.suffix);
    ring.add(`item-${k}`, it.prefix.slice(-1500));
    const typist = (current = new Typist(provider, doc, it.prefix.length));
    for (const [w, word] of words(it.truth, Number(v.words)).entries()) {
      for (const ch of word.slice(0, -1)) {
        void typist.key(ch);
        await sleep(KEY_MS);
      }
      const t0 = performance.now();
      const result = (await Promise.race([typist.key(word.at(-1)!), sleep(5000).then(() => 'timeout')])) as unknown[] | undefined | string;
      if (Array.isArray(result) && result.length > 0) {
        (w === 0 ? firstWord : laterWords).push(performance.now() - t0);
      } else none++;
      await sleep(PAUSE_MS);
    }
  }
  sub.dispose();
  loop.disable();
  const latencyLoop = { maxMs: loop.max / 1e6, p99Ms: loop.percentile(99) / 1e6, meanMs: loop.mean / 1e6 };

  // Phase 2: memory over many completions at fresh positions.
  const gc = (globalThis as { gc?: () => void }).gc;
  const rss = () => {
    gc?.();
    return process.memoryUsage().rss;
  };
  const loop2 = monitorEventLoopDelay({ resolution: 1 });
  loop2.enable();
  const total = Number(v.completions);
  const warmup = Math.min(100, Math.floor(total / 10));
  const samples: { completions: number; rssMb: number; heapMb: number; engineRssMb: number; engineHeapMb: number; engineExternalMb: number; decoders: Record<string, number> }[] = [];
  const engineMemory = () => (host.engine as import('../src/completion/processEngine').ProcessEngine).memory();
  let rssWarm = 0;
  let engineRssWarm = 0;
  let n = 0;
  const positions = function* (): Generator<{ it: WorkloadItem; k: number; cut: number }> {
    for (let round = 0; ; round++) {
      // Each item's truth is cut 3 characters further every round; items that ran out are skipped.
      for (const [k, it] of items.entries()) if (round * 3 <= it.truth.length) yield { it, k, cut: round * 3 };
    }
  };
  const t2 = performance.now();
  for (const { it, k, cut } of positions()) {
    if (n >= total + warmup) break;
    const doc = new FakeDocument({ toString: () => `mem://memory/${k}` }, LANG[it.lang] ?? it.lang, it.prefix + it.truth.slice(0, cut) + it.suffix);
    const before = finished;
    const started = service.scheduler.started;
    await new Typist(provider, doc, it.prefix.length + cut).ask();
    // Wait for the decode to finish (not for a suggestion served from the cache, which decodes nothing).
    const deadline = performance.now() + 10_000;
    while (service.scheduler.started > started && finished === before && performance.now() < deadline) await sleep(2);
    n++;
    if (n % 100 === 0) console.error(`  ${n}/${total + warmup} completions`);
    if (n === warmup) {
      rssWarm = rss();
      engineRssWarm = (await engineMemory()).rss;
    }
    // Every 50 completions from the start, warm-up included, so the curve shows where growth stops.
    if (n % 50 === 0) {
      const w = await engineMemory();
      samples.push({ completions: n - warmup, rssMb: mb(rss()), heapMb: mb(process.memoryUsage().heapUsed), engineRssMb: mb(w.rss), engineHeapMb: mb(w.heapUsed), engineExternalMb: mb(w.external), decoders: Object.fromEntries(decoders) });
      const x = samples.at(-1)!;
      console.error(`  decoders so far: ${[...decoders].map(([k, c]) => `${k}=${c}`).join(' ')}`);
      console.error(`  after ${n}: RSS ${x.rssMb.toFixed(0)} MB (heap ${x.heapMb.toFixed(0)} MB); engine process RSS ${x.engineRssMb.toFixed(0)} MB (heap ${x.engineHeapMb.toFixed(0)} MB, +${x.engineExternalMb.toFixed(0)} MB external)`);
    }
  }
  const memoryMs = performance.now() - t2;
  loop2.disable();
  const rssEnd = rss();
  await service.idle();
  const engineRssEnd = (await engineMemory()).rss;
  await host.dispose();

  const report = {
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, loadavg1mStart: load0, loadavg1mEnd: os.loadavg()[0], node: process.version },
    settings: { strategy: cfg.decode.strategy, maxTokens: cfg.decode.maxTokens, debounceMs: cfg.completion.debounceMs, prefetch: cfg.completion.prefetch },
    modelLoadMs: loadMs,
    latency: { ...latencySummary([...firstWord, ...laterWords]), noSuggestion: none, firstWord: latencySummary(firstWord), laterWords: latencySummary(laterWords) },
    eventLoop: { idleBaseline: { maxMs: idle.max / 1e6, p99Ms: idle.percentile(99) / 1e6 }, typing: latencyLoop, memoryPhase: { maxMs: loop2.max / 1e6, p99Ms: loop2.percentile(99) / 1e6 } },
    memory: {
      completions: n - warmup, gcExposed: Boolean(gc), rssAfterWarmupMb: mb(rssWarm), rssEndMb: mb(rssEnd), growthPct: (100 * (rssEnd - rssWarm)) / rssWarm,
      engineRssAfterWarmupMb: mb(engineRssWarm), engineRssEndMb: mb(engineRssEnd), engineGrowthPct: (100 * (engineRssEnd - engineRssWarm)) / engineRssWarm, seconds: memoryMs / 1000, samples,
    },
  };
  const t = report;
  console.log(`machine: ${t.machine.cpus} cores (${t.machine.model}), load average ${t.machine.loadavg1mStart.toFixed(1)} → ${t.machine.loadavg1mEnd?.toFixed(1)}, Node ${t.machine.node}`);
  console.log(`settings: strategy ${t.settings.strategy}, maxTokens ${t.settings.maxTokens}, debounce ${t.settings.debounceMs} ms, prefetch ${t.settings.prefetch}; model load ${loadMs.toFixed(0)} ms`);
  console.log(`keystroke → first ghost text: p50 ${t.latency.p50Ms.toFixed(0)} ms, p95 ${t.latency.p95Ms.toFixed(0)} ms, max ${t.latency.maxMs.toFixed(0)} ms over ${t.latency.samples} words (${none} got no suggestion)  [target p50 ≤ 150, p95 ≤ 400]`);
  const split = (x: LatencySummary) => `p50 ${x.p50Ms.toFixed(0)} / p95 ${x.p95Ms.toFixed(0)} / max ${x.maxMs.toFixed(0)} ms (${x.samples})`;
  console.log(`  first word in a new document (its prompt not yet cached) ${split(t.latency.firstWord)}; later words ${split(t.latency.laterWords)}`);
  console.log(`event loop blocked: typing max ${t.eventLoop.typing.maxMs.toFixed(1)} ms (p99 ${t.eventLoop.typing.p99Ms.toFixed(1)}), completions max ${t.eventLoop.memoryPhase.maxMs.toFixed(1)} ms (p99 ${t.eventLoop.memoryPhase.p99Ms.toFixed(1)})  [target ≤ 20]; idle baseline max ${t.eventLoop.idleBaseline.maxMs.toFixed(1)} ms (p99 ${t.eventLoop.idleBaseline.p99Ms.toFixed(1)})`);
  const pct = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(2)}%`;
  console.log(`RSS over ${t.memory.completions} completions after ${warmup} to warm up, in ${t.memory.seconds.toFixed(0)} s  [target < 5% each]:`);
  console.log(`  extension side: ${t.memory.rssAfterWarmupMb.toFixed(1)} → ${t.memory.rssEndMb.toFixed(1)} MB (${pct(t.memory.growthPct)})${gc ? '' : ' (no --expose-gc)'}`);
  console.log(`  engine process: ${t.memory.engineRssAfterWarmupMb.toFixed(1)} → ${t.memory.engineRssEndMb.toFixed(1)} MB (${pct(t.memory.engineGrowthPct)})`);
  if (v.json) fs.writeFileSync(v.json, JSON.stringify(report, null, 1));
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err instanceof Error ? err.stack : String(err));
    process.exit(1);
  },
);
