// npm run bench [-- --quick] [--threads N] [--out DIR] [--sections a,b] [--limit N] [--max-tokens N]
//
// The benchmark report in one command: runs every section below on the bundled models and writes
// REPORT.md, one SVG per plot and report.json (every raw figure) to bench/report/ (--quick: to
// bench/report/quick/, which git ignores). Sections:
//   headline   every strategy and every peer on the held-out workloads, interleaved per prompt
//   limit      the measured cost of verifying T = 1..32 tokens, and each strategy's ceiling
//   exp1       draft model size x draft length k -> acceptance and speed-up
//   exp2       early-exit thresholds x confidence measures -> Pareto front
//   exp3       Mask-Predict iterations -> latency and quality, against autoregressive FIM
//   latency    keystroke -> first ghost text through the real inline provider (bench/provider.ts)
//   graphs     the graph builder on the bundled target: kernels per step, each graph and precision
//              against the torch export, llama.cpp F32 / Q8_0 / Q4_0 and transformers.js (bench/graphs.ts)
//   standin    a random-weight Qwen2.5-Coder-0.5B-shaped model: int8 / int4 against llama.cpp Q8_0 /
//              Q4_0 at 1 and 2 threads (bench/standin.ts; the quick run uses a toy shape)
//   typing     keystroke -> 1-line ghost text while typing through a file, the bundled target and the
//              0.5B stand-in at int4 on the reused KV cache, the cold first completion, and load time /
//              RSS per preset shape (bench/typing.ts; the quick run uses the toy shape)
// A section or a run that fails is reported with its error; the rest of the report still runs.
// Missing peer packages are reported with the command that installs them.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { CONFIDENCE_MEASURES, ConfidenceMeasure, Engine, HastenError, Strategy, STRATEGIES } from '../src/engine';
import { DraftSweepPoint, runDraftSweep } from './draftsweep';
import { ExitSweepResult, runExitSweep, supportedMeasures, sweepItems } from './exits';
import { AUTOREGRESSIVE, HeadlineRecord, HeadlineRow, HeadlineSystem, runHeadline, tabulateHeadline } from './headline';
import { limitPrompt, measureVerifyCost, stepCost, VerifyCost } from './limit';
import { MaskPredictSweepResult, runMaskPredictSweep } from './maskpredict';
import { PeerOpenResult, PeerSystem } from './peers/types';
import { barChart, lineChart, scatterChart } from './plots';
import { GraphsResult, runGraphs } from './graphs';
import { renderReport } from './reportMarkdown';
import { QWEN25_05B } from './checkpoints';
import { runStandin, StandinResult, TINY_QWEN } from './standin';
import { PRESET_SHAPES, runTyping, TypingResult } from './typing';
import { BenchWorkspace, loadWorkloads, WORKLOAD_KINDS } from './workloads';

const ROOT = path.resolve(__dirname, '..');
const MODELS = path.join(ROOT, 'models');
export const SECTIONS = ['headline', 'limit', 'exp1', 'exp2', 'exp3', 'latency', 'graphs', 'standin', 'typing'] as const;
export type Section = (typeof SECTIONS)[number];

const USAGE = `usage: npm run bench -- [--quick] [--threads N] [--out DIR] [--sections ${SECTIONS.join(',')}] [--limit N] [--max-tokens N] [--replot]
  --replot      redraw the plots and REPORT.md from the report.json in --out (no measuring)
  --quick       a few prompts per section (minutes; what CI runs), written to bench/report/quick/
  --threads N   intra-op threads for every system, ours and the peers alike (default 1)
  --limit N     headline prompts per workload kind (default 30, the repetitive set has 40; quick 2)`;

/** Sizes of each section; quick keeps every code path but few prompts. */
interface Plan {
  headlineLimit: number;
  maxNewTokens: number;
  limitRepeats: number;
  exp1Limit: number;
  exp1Ks: number[];
  exp2Limit: number;
  exp2Thresholds: number[];
  exp2Measures: ConfidenceMeasure[];
  exp3Limit: number;
  exp3Iterations: number[];
  latencyItems: number;
  latencyCompletions: number;
  graphsLimit: number;
  graphsQualityLimit: number;
  standinFull: boolean;
  standinThreads: number[];
  standinDecode: number;
  standinPrefill: number;
  standinRepeats: number;
  /** Word ends typed per model, and the preset shapes loaded, in the typing section. */
  typingWords: number;
  typingPresets: string[];
}

const FULL: Plan = {
  headlineLimit: 30, maxNewTokens: 48, limitRepeats: 40,
  exp1Limit: 10, exp1Ks: [1, 2, 3, 4, 6, 8],
  exp2Limit: 10, exp2Thresholds: [0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.998], exp2Measures: [...CONFIDENCE_MEASURES],
  exp3Limit: 10, exp3Iterations: [1, 2, 3, 4, 6, 8, 10],
  latencyItems: 20, latencyCompletions: 100,
  graphsLimit: 10, graphsQualityLimit: 10,
  standinFull: true, standinThreads: [1, 2], standinDecode: 32, standinPrefill: 1000, standinRepeats: 5,
  typingWords: 40, typingPresets: ['qwen2.5-coder-0.5b', 'qwen2.5-coder-1.5b'],
};
const QUICK: Plan = {
  headlineLimit: 2, maxNewTokens: 24, limitRepeats: 3,
  exp1Limit: 1, exp1Ks: [1, 4],
  exp2Limit: 1, exp2Thresholds: [0.7, 0.95], exp2Measures: ['softmax'],
  exp3Limit: 1, exp3Iterations: [1, 4],
  latencyItems: 2, latencyCompletions: 10,
  graphsLimit: 1, graphsQualityLimit: 1,
  standinFull: false, standinThreads: [1], standinDecode: 8, standinPrefill: 200, standinRepeats: 2,
  typingWords: 4, typingPresets: ['toy'],
};

/** Our strategies in the headline; `auto` is what a user gets by default. */
const OURS: { strategy: Strategy; lossy: boolean }[] = [
  { strategy: 'auto', lossy: false }, { strategy: 'prompt-lookup', lossy: false }, { strategy: 'lookahead', lossy: false },
  { strategy: 'retrieval', lossy: false }, { strategy: 'draft-model', lossy: false }, { strategy: 'token-tree', lossy: false },
  { strategy: 'lookup-draft', lossy: false }, { strategy: 'self-speculation', lossy: false }, { strategy: 'early-exit', lossy: true }, { strategy: 'mask-predict', lossy: true },
];

export interface SectionError {
  section: Section | 'peers';
  error: string;
}

export interface PeerStatus {
  peer: 'transformers.js' | 'llama.cpp';
  available: boolean;
  message?: string;
  systems: { id: string; description: string; settings: Record<string, string | number | boolean> }[];
}

export interface LimitResult {
  target: VerifyCost;
  draftStepMs: Record<string, number>;
}

export interface LatencyResult {
  p50Ms: number;
  p95Ms: number;
  maxMs: number;
  samples: number;
  noSuggestion: number;
  strategy: string;
  eventLoopMaxMs: number;
}

export interface ReportData {
  mode: 'full' | 'quick';
  command: string;
  started: string;
  seconds: number;
  machine: { cpu: string; cores: number; memoryGb: number; node: string; platform: string; loadAverageStart: number; loadAverageEnd: number };
  threads: number;
  plan: Plan;
  hasten: { target: string; draft: string | null; settings: string };
  peers: PeerStatus[];
  headline?: { items: string[]; maxNewTokens: number; rows: HeadlineRow[]; records: HeadlineRecord[] };
  limit?: LimitResult;
  exp1?: { items: string[]; points: DraftSweepPoint[] };
  exp2?: ExitSweepResult;
  exp3?: Omit<MaskPredictSweepResult, 'records'>;
  latency?: LatencyResult;
  graphs?: GraphsResult;
  standin?: StandinResult;
  typing?: TypingResult;
  errors: SectionError[];
  plots: Record<string, string>;
}

const message = (err: unknown) => (err instanceof HastenError ? err.message : err instanceof Error ? err.message : String(err));

/** One progress bar, re-scaled per section: `[2/6] headline |####....| 120/780 label | ETA 3m`. */
class Progress {
  private readonly bar: cliProgress.SingleBar;
  private done = 0;
  private running = false;
  constructor(private readonly sections: number) {
    this.bar = new cliProgress.SingleBar({
      format: '[{index}/{sections}] {section} |{bar}| {value}/{total} | {label} | ETA {eta_formatted}',
      barsize: 28, hideCursor: true, stream: process.stderr, noTTYOutput: true, notTTYSchedule: 15_000, etaBuffer: 50, fps: 5,
    }, cliProgress.Presets.shades_classic);
  }
  start(section: string, total: number): void {
    this.stop();
    this.done++;
    this.bar.start(Math.max(1, total), 0, { index: this.done, sections: this.sections, section, label: '' });
    this.running = true;
  }
  tick(label: string, value?: number, total?: number): void {
    if (total !== undefined) this.bar.setTotal(Math.max(1, total));
    if (value !== undefined) this.bar.update(value, { label: label.slice(0, 40) });
    else this.bar.increment(1, { label: label.slice(0, 40) });
  }
  stop(): void {
    if (this.running) this.bar.stop();
    this.running = false;
  }
}

async function openPeers(threads: number, contextSize: number, errors: SectionError[]): Promise<{ status: PeerStatus[]; systems: PeerSystem[] }> {
  const status: PeerStatus[] = [];
  const systems: PeerSystem[] = [];
  const add = (peer: PeerStatus['peer'], r: PeerOpenResult) => {
    if (r.ok) {
      systems.push(...r.systems);
      status.push({ peer, available: true, systems: r.systems.map((s) => ({ id: s.id, description: s.description, settings: { ...s.settings } })) });
    } else {
      status.push({ peer, available: false, message: r.message, systems: [] });
      console.error(`\n${peer}: ${r.message}`);
    }
  };
  const targetDir = path.join(MODELS, 'hasten-target');
  try {
    const { openTransformersJs } = await import('./peers/transformersjs');
    add('transformers.js', await openTransformersJs({ modelDir: targetDir, threads, ...(threads > 1 ? { allowSpinning: false } : {}) }));
  } catch (err) {
    errors.push({ section: 'peers', error: `transformers.js: ${message(err)}` });
    status.push({ peer: 'transformers.js', available: false, message: message(err), systems: [] });
  }
  try {
    const { openLlamaCpp } = await import('./peers/llamacpp');
    add('llama.cpp', await openLlamaCpp({ targetDir, draftDir: path.join(MODELS, 'hasten-draft-m'), threads, contextSize }));
  } catch (err) {
    errors.push({ section: 'peers', error: `llama.cpp: ${message(err)}` });
    status.push({ peer: 'llama.cpp', available: false, message: message(err), systems: [] });
  }
  return { status, systems };
}

function runLatency(plan: Plan, out: string): Promise<LatencyResult> {
  const json = path.join(out, 'latency.json');
  const args = ['--expose-gc', '--import', 'tsx', path.join(__dirname, 'provider.ts'), '--items', String(plan.latencyItems), '--words', '3', '--completions', String(plan.latencyCompletions), '--json', json];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`bench/provider.ts exited with ${code}: ${err.trim().split('\n').slice(-3).join(' ')}`));
      const r = JSON.parse(fs.readFileSync(json, 'utf8')) as { latency: { p50Ms: number; p95Ms: number; maxMs: number; samples: number; noSuggestion: number }; settings: { strategy: string }; eventLoop: { typing: { maxMs: number } } };
      fs.rmSync(json, { force: true });
      resolve({ ...r.latency, strategy: r.settings.strategy, eventLoopMaxMs: r.eventLoop.typing.maxMs });
    });
  });
}

async function plots(data: ReportData, out: string): Promise<void> {
  const sub = `${data.machine.cores} × ${data.machine.cpu}, ${data.threads} thread(s) per system, ${data.mode} run`;
  const write = async (name: string, svg: Promise<string>) => {
    try {
      fs.writeFileSync(path.join(out, name), await svg);
      data.plots[name] = name;
    } catch (err) {
      data.errors.push({ section: 'headline', error: `plot ${name}: ${message(err)}` });
    }
  };
  if (data.headline) {
    const rows = data.headline.rows.filter((r) => r.system !== AUTOREGRESSIVE && r.workload !== 'all' && r.failed < r.runs);
    await write('headline-speedup.svg', barChart({
      title: 'Decode speed-up over our autoregressive decoding', subtitle: sub, xLabel: 'system', yLabel: 'speed-up (×, same prompts, same run)', legendTitle: 'workload',
      groups: rows.map((r) => ({ category: r.system, series: r.workload, value: r.speedup })), refLine: 1,
    }));
  }
  if (data.limit) {
    const pts = data.limit.target.points;
    await write('limit-verify-cost.svg', lineChart({
      title: `Cost of verifying T tokens after a ${data.limit.target.past}-token past`, subtitle: sub, xLabel: 'tokens verified in one pass (T)', yLabel: 'time relative to one token (×)',
      series: [{ name: 'measured cost(T)', points: pts.map((p) => ({ x: p.T, y: p.relative })) }, { name: 'ceiling T / cost(T)', points: pts.map((p) => ({ x: p.T, y: p.T / p.relative })) }],
    }));
  }
  if (data.exp1) {
    const fixed = data.exp1.points.filter((p) => p.k !== null);
    const byDraft = [...new Set(fixed.map((p) => p.draft))];
    const label = (d: string) => { const p = fixed.find((x) => x.draft === d)!.draftParams; return p ? `${d} (${(p / 1e6).toFixed(2)}M)` : d; };
    await write('exp1-acceptance.svg', lineChart({
      title: 'Experiment 1: acceptance rate by draft size and draft length', subtitle: sub, xLabel: 'draft length k (tokens)', yLabel: 'accepted / drafted',
      series: byDraft.map((d) => ({ name: label(d), points: fixed.filter((p) => p.draft === d).map((p) => ({ x: p.k!, y: p.acceptanceRate })) })),
    }));
    await write('exp1-speedup.svg', lineChart({
      title: 'Experiment 1: wall-clock speed-up by draft size and draft length', subtitle: sub, xLabel: 'draft length k (tokens)', yLabel: 'speed-up over autoregressive (×)', refLine: 1,
      series: byDraft.map((d) => ({ name: label(d), points: fixed.filter((p) => p.draft === d).map((p) => ({ x: p.k!, y: p.speedup })) })),
    }));
  }
  if (data.exp2) {
    const pts = data.exp2.points.filter((p) => p.measure !== null || p.strategy === 'self-speculation');
    await write('exp2-pareto.svg', scatterChart({
      title: 'Experiment 2: early exit, speed-up against agreement with the full model', subtitle: sub, xLabel: 'speed-up over autoregressive (×)', yLabel: 'token agreement with full model',
      points: pts.map((p) => ({ x: p.speedup, y: p.agreement, label: p.threshold === null ? 'self-spec' : String(p.threshold), series: p.measure ?? 'self-speculation (lossless)', pareto: p.pareto === true })), refX: 1,
    }));
    await write('exp2-exact.svg', scatterChart({
      title: 'Experiment 2: early exit, speed-up against exact first-line match', subtitle: sub, xLabel: 'speed-up over autoregressive (×)', yLabel: 'first line equals the full model\'s',
      points: pts.map((p) => ({ x: p.speedup, y: p.lineAgreement, label: p.threshold === null ? 'self-spec' : String(p.threshold), series: p.measure ?? 'self-speculation (lossless)' })), refX: 1,
    }));
  }
  if (data.exp3) {
    const rows = data.exp3.rows.filter((r) => r.set === 'span16');
    const ar = rows.find((r) => r.method === 'autoregressive');
    const series = (m: string, y: (r: (typeof rows)[number]) => number) => ({ name: m, points: rows.filter((r) => r.method === m).map((r) => ({ x: r.T!, y: y(r) })) });
    const flat = (name: string, v: number) => ({ name, points: data.exp3!.rows.filter((r) => r.set === 'span16' && r.method === 'mask-predict').map((r) => ({ x: r.T!, y: v })) });
    await write('exp3-latency.svg', lineChart({
      title: 'Experiment 3: Mask-Predict latency by iterations (16-token spans)', subtitle: sub, xLabel: 'iterations T', yLabel: 'median latency (ms)',
      series: [series('mask-predict', (r) => r.medianLatencyMs), series('mask-predict-oracle', (r) => r.medianLatencyMs), ...(ar ? [flat('autoregressive FIM', ar.medianLatencyMs)] : [])],
    }));
    await write('exp3-quality.svg', lineChart({
      title: 'Experiment 3: Mask-Predict quality by iterations (16-token spans)', subtitle: sub, xLabel: 'iterations T', yLabel: 'chrF against the true span',
      series: [series('mask-predict', (r) => r.chrF), series('mask-predict-oracle', (r) => r.chrF), ...(ar ? [flat('autoregressive FIM', ar.chrF)] : [])],
    }));
  }
}

async function main(): Promise<void> {
  let v;
  try {
    v = parseArgs({
      args: process.argv.slice(2), strict: true, options: {
        quick: { type: 'boolean', default: false }, threads: { type: 'string', default: '1' }, out: { type: 'string' }, sections: { type: 'string' },
        limit: { type: 'string' }, 'max-tokens': { type: 'string' }, help: { type: 'boolean', default: false }, replot: { type: 'boolean', default: false },
      },
    }).values;
  } catch (err) {
    console.error(`bench: ${message(err)}\n${USAGE}`);
    process.exit(2);
  }
  if (v.help) return void console.log(USAGE);
  const plan: Plan = { ...(v.quick ? QUICK : FULL) };
  const int = (s: string | undefined, name: string, min: number) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < min) {
      console.error(`bench: --${name} must be an integer >= ${min} (got ${s})\n${USAGE}`);
      process.exit(2);
    }
    return n;
  };
  const threads = int(v.threads, 'threads', 1);
  if (v.limit) plan.headlineLimit = int(v.limit, 'limit', 1);
  if (v['max-tokens']) plan.maxNewTokens = int(v['max-tokens'], 'max-tokens', 1);
  const sections = (v.sections?.split(',') ?? [...SECTIONS]) as Section[];
  for (const s of sections) if (!SECTIONS.includes(s)) { console.error(`bench: unknown section ${s}\n${USAGE}`); process.exit(2); }
  const out = path.resolve(v.out ?? path.join(ROOT, 'bench', 'report', ...(v.quick ? ['quick'] : [])));
  fs.mkdirSync(out, { recursive: true });
  if (v.replot) {
    const json = path.join(out, 'report.json');
    if (!fs.existsSync(json)) {
      console.error(`bench: --replot needs ${path.relative(ROOT, json)}; run npm run bench first`);
      process.exit(2);
    }
    const data = JSON.parse(fs.readFileSync(json, 'utf8')) as ReportData;
    data.plots = {};
    data.errors = data.errors.filter((e) => !e.error.startsWith('plot '));
    await plots(data, out);
    fs.writeFileSync(json, JSON.stringify(data, null, 1));
    fs.writeFileSync(path.join(out, 'REPORT.md'), renderReport(data, STRATEGIES));
    return void console.log(`redrew ${Object.keys(data.plots).length} plots and REPORT.md from ${path.relative(ROOT, json)}`);
  }

  const t0 = Date.now();
  const data: ReportData = {
    mode: v.quick ? 'quick' : 'full', command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`, started: new Date().toISOString(), seconds: 0,
    machine: { cpu: os.cpus()[0]?.model.trim() ?? 'unknown', cores: os.cpus().length, memoryGb: Math.round(os.totalmem() / 2 ** 30), node: process.version, platform: `${os.platform()} ${os.arch()}`, loadAverageStart: os.loadavg()[0]!, loadAverageEnd: 0 },
    threads, plan, hasten: { target: 'hasten-target', draft: null, settings: '' }, peers: [], errors: [], plots: {},
  };
  const progress = new Progress(sections.length);
  const runtime = { provider: 'cpu' as const, threads };
  const engine = await Engine.load({ modelDir: path.join(MODELS, 'hasten-target'), runtime, log: () => {} });
  data.hasten = { target: engine.target.folder.name, draft: engine.draft?.folder.name ?? null, settings: `onnxruntime-node ${require('onnxruntime-node/package.json').version}, cpu, ${threads} intra-op thread(s) for the target (drafts: 1), fp16 weights computed in fp32, greedy` };
  const section = async (s: Section, f: () => Promise<void>) => {
    if (!sections.includes(s)) return;
    try {
      await f();
    } catch (err) {
      progress.stop();
      data.errors.push({ section: s, error: message(err) });
      console.error(`\n${s} failed: ${message(err)}`);
    }
  };
  try {
    await section('headline', async () => {
      const items = loadWorkloads(WORKLOAD_KINDS, plan.headlineLimit);
      // Retrieval searches the held-out sources the workloads were cut from, standing in for the workspace,
      // each as the editor holds it at the cursor of the item being completed (BenchWorkspace).
      const workspace = new BenchWorkspace([engine.retrieval]);
      await workspace.load(items);
      const peers = await openPeers(threads, engine.target.contextLength, data.errors);
      data.peers = peers.status;
      try {
        const systems: HeadlineSystem[] = [
          { id: AUTOREGRESSIVE, family: 'hasten', lossy: false, strategy: 'autoregressive' },
          ...OURS.filter((o) => engine.available().includes(o.strategy)).map((o) => ({ id: o.strategy, family: 'hasten' as const, lossy: o.lossy, strategy: o.strategy })),
          ...peers.systems.map((p) => ({ id: p.id, family: 'peer' as const, lossy: false, peer: p })),
        ];
        progress.start('headline', items.length * systems.length);
        const records = await runHeadline(engine, items, { systems, maxNewTokens: plan.maxNewTokens, beforeItem: (it) => workspace.at(it), onProgress: (l) => progress.tick(l) });
        const tk = engine.target.folder.tokenizer;
        data.headline = { items: items.map((i) => i.id), maxNewTokens: plan.maxNewTokens, rows: tabulateHeadline(records, systems, items, (ids) => tk.decode(ids)), records };
      } finally {
        await Promise.all(peers.systems.map((p) => p.dispose().catch(() => {})));
      }
    });
    await section('limit', async () => {
      progress.start('limit', plan.limitRepeats * 32 + 2);
      const prompt = limitPrompt(engine, loadWorkloads(WORKLOAD_KINDS, plan.headlineLimit), plan.maxNewTokens, 32);
      const target = await measureVerifyCost(engine.target, prompt, { maxT: 32, repeats: plan.limitRepeats, onProgress: (d, t) => progress.tick(`T sweep`, d, t + 2) });
      const draftStepMs: Record<string, number> = { [engine.target.folder.name]: target.points[0]!.medianMs };
      for (const name of ['hasten-draft-m', 'hasten-draft-s']) {
        const e = await Engine.load({ modelDir: path.join(MODELS, 'hasten-target'), draftDir: path.join(MODELS, name), runtime, log: () => {} });
        try {
          draftStepMs[name] = await stepCost(e.draft!, prompt, plan.limitRepeats * 4);
        } finally {
          await e.dispose();
        }
        progress.tick(name);
      }
      data.limit = { target, draftStepMs };
    });
    await section('exp1', async () => {
      const items = loadWorkloads(WORKLOAD_KINDS, plan.exp1Limit);
      const drafts = ['hasten-draft-s', 'hasten-draft-m'];
      progress.start('exp1', items.length * drafts.length * (plan.exp1Ks.length + 2));
      const points = await runDraftSweep(items, { targetDir: path.join(MODELS, 'hasten-target'), draftDirs: drafts.map((d) => path.join(MODELS, d)), ks: plan.exp1Ks, maxNewTokens: plan.maxNewTokens, runtime, onProgress: (l) => progress.tick(l) });
      data.exp1 = { items: items.map((i) => i.id), points };
    });
    await section('exp2', async () => {
      const n = sweepItems(plan.exp2Limit).length;
      const supported = supportedMeasures(engine);
      const measures = plan.exp2Measures.filter((m) => supported.includes(m));
      progress.start('exp2', n * (3 + measures.length * plan.exp2Thresholds.length));
      data.exp2 = await runExitSweep(engine, {
        thresholds: plan.exp2Thresholds, measures, limit: plan.exp2Limit, maxNewTokens: 32, base: { minExitLayer: 0, exitKv: 'propagate' }, kvModes: ['propagate'], selfSpecLayers: [],
        onProgress: (d, t, l) => progress.tick(l, d, t),
      });
    });
    await section('exp3', async () => {
      progress.start('exp3', 1);
      const r = await runMaskPredictSweep(engine, { iterations: plan.exp3Iterations, candidates: 3, context: 64, limit: plan.exp3Limit, onProgress: (d, t, l) => progress.tick(l, d, t) });
      const { records: _records, ...rest } = r;
      data.exp3 = rest;
    });
  } finally {
    await engine.dispose();
  }
  await section('latency', async () => {
    progress.start('latency (bench/provider.ts)', 1);
    data.latency = await runLatency(plan, out);
    progress.tick('done', 1, 1);
  });
  await section('graphs', async () => {
    progress.start('graphs', 1);
    data.graphs = await runGraphs({
      items: loadWorkloads(WORKLOAD_KINDS, plan.graphsLimit), qualityItems: loadWorkloads(WORKLOAD_KINDS, plan.graphsQualityLimit),
      maxNewTokens: plan.maxNewTokens, threads, onProgress: (l, d, t) => progress.tick(l, d ?? 0, t ?? 1),
    });
  });
  await section('standin', async () => {
    progress.start('standin', 1);
    data.standin = await runStandin({
      shape: plan.standinFull ? QWEN25_05B : TINY_QWEN, contextLength: 2048, threads: plan.standinThreads,
      decodeTokens: plan.standinDecode, prefillTokens: plan.standinPrefill, verifyRepeats: plan.standinRepeats, onProgress: (l) => progress.tick(l, 0, 1),
    });
  });
  await section('typing', async () => {
    progress.start('typing', 1);
    const stand = plan.standinFull ? QWEN25_05B : TINY_QWEN;
    data.typing = await runTyping({
      standin: stand, presets: Object.fromEntries(plan.typingPresets.map((id) => [id, id === 'toy' ? TINY_QWEN : PRESET_SHAPES[id]!])),
      threads: plan.standinThreads.at(-1)!, words: plan.typingWords, maxNewTokens: 16, onProgress: (l) => progress.tick(l, 0, 1),
    });
  });
  progress.stop();
  data.seconds = (Date.now() - t0) / 1000;
  data.machine.loadAverageEnd = os.loadavg()[0]!;
  await plots(data, out);
  fs.writeFileSync(path.join(out, 'report.json'), JSON.stringify(data, null, 1));
  fs.writeFileSync(path.join(out, 'REPORT.md'), renderReport(data, STRATEGIES));
  console.log(`\nwrote ${path.relative(ROOT, path.join(out, 'REPORT.md'))}, report.json and ${Object.keys(data.plots).length} plots in ${(data.seconds / 60).toFixed(1)} min` +
    (data.errors.length ? `; ${data.errors.length} problem(s) reported in it` : ''));
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(`bench: ${err instanceof Error ? err.stack : String(err)}`);
    process.exit(1);
  });
}
