// Early exit in the benchmark:
//   calibrate   per confidence measure, the smallest CALM threshold whose token agreement with the
//               full model meets a target (CALM's consistency calibration, by fixed-sequence testing)
//   exit-sweep  experiment 2: thresholds x confidence measures on held-out completions; per point
//               the speed-up against autoregressive decoding in the same run (interleaved), the mean
//               exit layer, token agreement with the full model and exact match of completed lines
// Items are split in two halves per workload kind: calibration picks on one, the sweep and the
// held-out check of a calibrated threshold run on the other.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { CompletionUpdate, CONFIDENCE_MEASURES, ConfidenceMeasure, DecodeSettings, Engine, hasExitClassifier, PROVIDERS, Provider, SKIPPED_KV, SkippedKv, Strategy } from '../src/engine';
import { agreementCounts, decodeRate } from './metrics';
import { loadWorkloads, PromptSet, promptSetFile, TUNING_FILE, WORKLOAD_KINDS, WorkloadItem } from './workloads';

const ROOT = path.resolve(__dirname, '..');
export const EXITS_USAGE = `  hasten calibrate [--agreement 0.95] [--z 1.645 (0: plain empirical)] [--measure softmax,margin,saturation,classifier] [--min-exit-layers 2,4,6 (each with its own threshold; the fastest pair wins)] [--prompts tuning|heldout] [--limit N] [--max-tokens N] [--json FILE] [exit options] [common options]
  hasten exit-sweep [--thresholds 0.5,0.6,...] [--measure ...] [--self-spec-layers 2,4,6] [--prompts heldout|tuning] [--limit N] [--max-tokens N] [--json FILE] [--quick] [exit options] [common options]
exit options: --min-exit-layer N (default 0: the layer before the last for softmax and margin, the first for saturation and classifier)  --exit-kv ${SKIPPED_KV.join('|')} (default propagate; exit-sweep takes a list)`;

const OPTIONS = {
  agreement: { type: 'string', default: '0.95' }, z: { type: 'string', default: '1.645' }, measure: { type: 'string' }, thresholds: { type: 'string' }, limit: { type: 'string' }, prompts: { type: 'string' },
  'max-tokens': { type: 'string', default: '32' }, json: { type: 'string' }, quick: { type: 'boolean', default: false },
  'min-exit-layer': { type: 'string', default: '0' }, 'min-exit-layers': { type: 'string' }, 'self-spec-layers': { type: 'string' }, 'exit-kv': { type: 'string', default: 'propagate' },
  model: { type: 'string' }, draft: { type: 'string' }, provider: { type: 'string', default: 'cpu' }, threads: { type: 'string', default: '0' },
} as const;

/** 0.5..0.99 as experiment 2 asks, plus the top where saturation (a cosine near 1 between layers) discriminates. */
const SWEEP = [0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.995, 0.999];
const SWEEP_QUICK = [0.5, 0.8, 0.95, 0.99];
/** Calibration candidates, most conservative first (fixed-sequence testing walks down until one fails). */
const CALIBRATION = [0.9999, 0.9995, 0.999, 0.998, 0.997, 0.996, 0.995, 0.99, 0.98, 0.97, 0.95, 0.925, 0.9, 0.85, 0.8, 0.75, 0.7, 0.6, 0.5, 0.4, 0.3];

interface Run {
  item: string;
  tokens: number;
  decodeMs: number;
  output: number[];
  text: string;
  /** Exit layer of every token decoded after prefill (CALM only). */
  exitLayers: number[];
  /** Self-speculation: drafted and accepted nodes, and the draft exit layer E of every step that drafted. */
  drafted: number;
  accepted: number;
  draftLayers: number[];
}

export interface PointSummary {
  strategy: Strategy;
  measure: ConfidenceMeasure | null;
  threshold: number | null;
  runs: number;
  tokens: number;
  tokensPerSecond: number;
  /** Decode tokens/s against autoregressive decoding on the same items, interleaved in one run. */
  speedup: number;
  meanExitLayer: number | null;
  /** Position-wise token agreement with the full model's greedy output (matches / longer length). */
  agreement: number;
  /** Completions token-for-token identical to the full model's. */
  identical: number;
  /** Completions whose first line equals the held-out truth's first line. */
  lineExact: number;
  /** Completions whose first line equals the full model's first line. */
  lineAgreement: number;
  /** Self-speculation: accepted / drafted tokens, and the mean draft exit layer E over drafting steps. */
  acceptance: number | null;
  meanDraftLayer: number | null;
  /** CALM: how the skipped layers got the exited token's K/V. */
  exitKv?: SkippedKv;
  pareto?: boolean;
}

type Values = Record<string, string | boolean | undefined>;

function fail(msg: string): never {
  console.error(`hasten: ${msg}\nusage:\n${EXITS_USAGE}`);
  process.exit(2);
}

function num(v: unknown, name: string, lo: number, hi: number, integer = false): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < lo || n > hi || (integer && !Number.isInteger(n))) fail(`--${name} must be ${integer ? 'an integer' : 'a number'} in [${lo}, ${hi}] (got ${v})`);
  return n;
}

/** The --measure list; without one, every measure the model supports (the classifier only where it ships one). */
function measures(v: Values, engine: Engine): ConfidenceMeasure[] {
  const m = ((v.measure as string | undefined)?.split(',') ?? supportedMeasures(engine)) as ConfidenceMeasure[];
  for (const x of m) if (!CONFIDENCE_MEASURES.includes(x)) fail(`unknown measure ${x} (valid: ${CONFIDENCE_MEASURES.join(', ')})`);
  return m;
}

/** The confidence measures `engine`'s target supports: all but the learned classifier when it has none. */
export const supportedMeasures = (engine: Engine): ConfidenceMeasure[] =>
  CONFIDENCE_MEASURES.filter((m) => m !== 'classifier' || hasExitClassifier(engine.target.folder.dir));

/** Every other item of each workload kind: 'calibration' takes the even ones, 'evaluation' the odd. */
export function split(items: WorkloadItem[], half: 'calibration' | 'evaluation'): WorkloadItem[] {
  return WORKLOAD_KINDS.flatMap((k) => items.filter((i) => i.kind === k).filter((_, n) => (n % 2 === 0) === (half === 'calibration')));
}

async function runOnce(engine: Engine, item: WorkloadItem, strategy: Strategy, settings: Partial<DecodeSettings>, maxNewTokens: number): Promise<Run> {
  await engine.reset();
  let last: CompletionUpdate | undefined;
  for await (const u of engine.complete({ prefix: item.prefix, suffix: item.suffix, strategy, maxNewTokens, settings })) last = u;
  const t = last!.trace;
  const exitLayers = strategy === 'early-exit' ? t.steps.slice(1).flatMap((s) => (s.bonus?.exitLayer !== undefined && s.emitted > 0 ? [s.bonus.exitLayer] : [])) : [];
  const drafting = t.steps.filter((s) => s.nodes.length > 0);
  return {
    item: item.id, tokens: t.tokens, decodeMs: t.decodeMs, output: t.output, text: last!.text, exitLayers,
    drafted: drafting.reduce((n, s) => n + s.nodes.length, 0), accepted: drafting.reduce((n, s) => n + s.nodes.filter((x) => x.status === 'accepted').length, 0),
    draftLayers: drafting.map((s) => s.nodes[0]!.exitLayer ?? 0),
  };
}

const firstLine = (s: string) => s.split('\n')[0]!.trimEnd();

/** Position-wise agreement of outputs with references: [matches, longer length]. */
function agreementWith(runs: Run[], ref: Map<string, Run>): [number, number] {
  return agreementCounts(runs.map((r) => [r.output, ref.get(r.item)!.output] as const));
}

function summarise(strategy: Strategy, measure: ConfidenceMeasure | null, threshold: number | null, runs: Run[], ar: Map<string, Run>, truth: Map<string, WorkloadItem>): PointSummary {
  const rate = decodeRate;
  const base = runs.map((r) => ar.get(r.item)!);
  const [match, total] = agreementWith(runs, ar);
  const exits = runs.flatMap((r) => r.exitLayers);
  const drafted = runs.reduce((n, r) => n + r.drafted, 0);
  const layers = runs.flatMap((r) => r.draftLayers);
  return {
    acceptance: drafted ? runs.reduce((n, r) => n + r.accepted, 0) / drafted : null,
    meanDraftLayer: layers.length ? layers.reduce((a, b) => a + b, 0) / layers.length : null,
    strategy, measure, threshold, runs: runs.length, tokens: runs.reduce((s, r) => s + r.tokens, 0),
    tokensPerSecond: rate(runs), speedup: rate(runs) / rate(base),
    meanExitLayer: exits.length ? exits.reduce((s, x) => s + x, 0) / exits.length : null,
    agreement: total ? match / total : 1,
    identical: runs.filter((r) => JSON.stringify(r.output) === JSON.stringify(ar.get(r.item)!.output)).length / runs.length,
    lineExact: runs.filter((r) => firstLine(r.text) === firstLine(truth.get(r.item)!.truth)).length / runs.length,
    lineAgreement: runs.filter((r) => firstLine(r.text) === firstLine(ar.get(r.item)!.text)).length / runs.length,
  };
}

/** Marks the points no other point of the same measure beats on both speed-up and agreement. */
export function markPareto(points: PointSummary[]): void {
  for (const p of points) {
    if (p.measure === null) continue;
    p.pareto = !points.some((q) => q !== p && q.measure === p.measure && q.exitKv === p.exitKv && q.speedup >= p.speedup && q.agreement >= p.agreement && (q.speedup > p.speedup || q.agreement > p.agreement));
  }
}

async function loadEngine(v: Values): Promise<Engine> {
  const provider = v.provider as string;
  if (!(PROVIDERS as readonly string[]).includes(provider)) fail(`unknown provider ${provider}`);
  return Engine.load({
    modelDir: (v.model as string | undefined) ?? path.join(ROOT, 'models', 'hasten-target'), draftDir: null,
    runtime: { provider: provider as Provider, threads: num(v.threads, 'threads', 0, 256, true) },
    log: (level, m) => console.error(`[${level}] ${m}`),
  });
}

function exitSettings(v: Values): Partial<DecodeSettings> {
  return { minExitLayer: num(v['min-exit-layer'], 'min-exit-layer', 0, 1024, true), exitKv: kvModes(v)[0]! };
}

function kvModes(v: Values): SkippedKv[] {
  const modes = (v['exit-kv'] as string).split(',');
  for (const kv of modes) if (!(SKIPPED_KV as readonly string[]).includes(kv)) fail(`--exit-kv must be one of ${SKIPPED_KV.join(', ')}`);
  return modes as SkippedKv[];
}

const progress = (done: number, total: number, label: string) =>
  process.stderr.write(`\r[${'#'.repeat(Math.round((30 * done) / total)).padEnd(30)}] ${done}/${total} ${label}`.padEnd(100));

function machine(): Record<string, unknown> {
  return { cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, load: os.loadavg()[0], date: new Date().toISOString() };
}

export interface ExitSweepOptions {
  thresholds: number[];
  measures: ConfidenceMeasure[];
  /** Items per workload kind, from the evaluation half. */
  limit: number;
  maxNewTokens: number;
  /** Shared CALM settings (minimum exit layer, skipped-layer K/V). */
  base: Partial<DecodeSettings>;
  kvModes: SkippedKv[];
  /** Fixed draft exit layers for self-speculation, besides the adaptive one. */
  selfSpecLayers: number[];
  /** The prompts: the evaluation half of the held-out workloads (default), or the tuning prompts (bench/tuning.json) to choose settings on. */
  prompts?: PromptSet;
  onProgress?: (done: number, total: number, label: string) => void;
}

export interface ExitSweepResult {
  items: string[];
  keys: string[];
  points: PointSummary[];
  seconds: number;
}

/** The items experiment 2 runs on: the evaluation half (or the tuning prompts), `limit` per workload kind. */
export function sweepItems(limit: number, prompts: PromptSet = 'heldout'): WorkloadItem[] {
  if (prompts === 'tuning') return loadWorkloads(WORKLOAD_KINDS, limit, TUNING_FILE);
  return split(loadWorkloads(), 'evaluation').filter((_, i, all) => all.slice(0, i).filter((x) => x.kind === all[i]!.kind).length < limit);
}

/** Experiment 2: the sweep, interleaved per item with autoregressive, full-depth layered and self-speculation. */
export async function runExitSweep(engine: Engine, o: ExitSweepOptions): Promise<ExitSweepResult> {
  const items = sweepItems(o.limit, o.prompts);
  type Config = { key: string; strategy: Strategy; measure: ConfidenceMeasure | null; threshold: number | null; settings: Partial<DecodeSettings> };
  const configs: Config[] = [
    { key: 'autoregressive', strategy: 'autoregressive', measure: null, threshold: null, settings: {} },
    { key: 'full-depth', strategy: 'early-exit', measure: null, threshold: 1, settings: { ...o.base, exitThreshold: 1 } },
    { key: 'self-speculation', strategy: 'self-speculation', measure: null, threshold: null, settings: {} },
    // E adapted by ExitLayerBandit (selfSpecAdapt; off by default), and fixed draft exit layers, to show what it chooses between.
    { key: 'self-speculation@adaptive', strategy: 'self-speculation', measure: null, threshold: null, settings: { selfSpecAdapt: true } },
    ...o.selfSpecLayers.map((e) => ({
      key: `self-speculation@E=${e}`, strategy: 'self-speculation' as Strategy, measure: null, threshold: null, settings: { selfSpecLayer: e, selfSpecAdapt: false },
    })),
    ...o.kvModes.flatMap((kv, _, all) => o.measures.flatMap((m) => o.thresholds.map((t) => ({
      key: `${m}@${t}${all.length > 1 ? `/${kv}` : ''}`, strategy: 'early-exit' as Strategy, measure: m, threshold: t, settings: { ...o.base, exitMeasure: m, exitThreshold: t, exitKv: kv },
    })))),
  ];
  const runs = new Map<string, Run[]>(configs.map((c) => [c.key, []]));
  const total = items.length * configs.length;
  let done = 0;
  const t0 = Date.now();
  for (const [n, item] of items.entries()) {
    for (let k = 0; k < configs.length; k++) {
      const c = configs[(k + n) % configs.length]!;
      runs.get(c.key)!.push(await runOnce(engine, item, c.strategy, c.settings, o.maxNewTokens));
      o.onProgress?.(++done, total, `${item.id} ${c.key}`);
    }
  }
  const ar = new Map(runs.get('autoregressive')!.map((r) => [r.item, r]));
  const truth = new Map(items.map((i) => [i.id, i]));
  const points = configs.map((c) => ({ ...summarise(c.strategy, c.measure, c.threshold, runs.get(c.key)!, ar, truth), ...(c.measure ? { exitKv: c.settings.exitKv! } : {}) }));
  markPareto(points);
  return { items: items.map((i) => i.id), keys: configs.map((c) => c.key), points, seconds: (Date.now() - t0) / 1000 };
}

async function sweep(v: Values): Promise<void> {
  const grid = v.thresholds ? (v.thresholds as string).split(',').map((t) => num(t, 'thresholds', 0, 1)) : v.quick ? SWEEP_QUICK : SWEEP;
  const maxNew = num(v['max-tokens'], 'max-tokens', 1, 1024, true);
  const base = exitSettings(v);
  // calibrate's default is the tuning prompts; the sweep's, the held-out evaluation half (what the report shows).
  const prompts = (v.prompts ?? 'heldout') as PromptSet;
  promptSetFile(prompts, fail);
  const engine = await loadEngine(v);
  try {
    const r = await runExitSweep(engine, {
      prompts,
      thresholds: grid, measures: measures(v, engine), limit: v.limit ? num(v.limit, 'limit', 1, 1e6, true) : v.quick ? 4 : 10, maxNewTokens: maxNew, base, kvModes: kvModes(v),
      selfSpecLayers: ((v['self-spec-layers'] as string | undefined)?.split(',') ?? []).map((e) => num(e, 'self-spec-layers', 1, 1024, true)), onProgress: progress,
    });
    process.stderr.write('\n');
    console.log(formatPoints(r.points, r.keys));
    console.log(`\n${r.items.length} ${prompts === 'tuning' ? 'tuning prompts' : 'held-out prompts (evaluation half)'} x ${r.keys.length} configurations in ${r.seconds.toFixed(0)} s, ${maxNew} new tokens; ` +
      `speed-up is decode tokens/s against autoregressive (fused model.onnx) on the same prompts, interleaved; full-depth is the layered runtime without exits.`);
    if (typeof v.json === 'string') {
      const out = { experiment: 'exit-sweep', model: engine.target.folder.name, prompts, maxNewTokens: maxNew, items: r.items, settings: base, machine: machine(), points: r.points };
      fs.mkdirSync(path.dirname(path.resolve(v.json)), { recursive: true });
      fs.writeFileSync(v.json, JSON.stringify(out, null, 1));
      console.log(`wrote ${v.json}`);
    }
  } finally {
    await engine.dispose();
  }
}

export function formatPoints(points: PointSummary[], keys: string[]): string {
  const head = ['configuration', 'tok/s', 'speed-up', 'mean exit', 'agreement', 'identical', 'line exact', 'line = full', 'accepted', 'mean E', 'pareto'];
  const body = points.map((p, i) => [keys[i]!, p.tokensPerSecond.toFixed(1), `${p.speedup.toFixed(2)}x`, p.meanExitLayer?.toFixed(2) ?? '-', pct(p.agreement), pct(p.identical),
    pct(p.lineExact), pct(p.lineAgreement), p.acceptance === null ? '-' : pct(p.acceptance), p.meanDraftLayer?.toFixed(2) ?? '-', p.pareto ? '*' : '']);
  const width = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(width[i]!)).join('  ');
  return [line(head), line(width.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

interface CalibrationPoint {
  threshold: number;
  agreement: number;
  /** One-sided lower confidence bound of the agreement over prompts (agreement - z * standard error). */
  lowerBound: number;
  meanExitLayer: number | null;
  passed: boolean;
}

interface Scored {
  agreement: number;
  lowerBound: number;
  meanExitLayer: number | null;
}

/** Token agreement with references over prompts, with a normal-approximation lower bound across prompts. */
function score(runs: Run[], ref: Map<string, Run>, z: number): Scored {
  const [match, total] = agreementWith(runs, ref);
  const per = runs.map((r) => {
    const [m, t] = agreementWith([r], ref);
    return t ? m / t : 1;
  });
  const mean = per.reduce((a, b) => a + b, 0) / per.length;
  const sd = Math.sqrt(per.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, per.length - 1));
  const agreement = total ? match / total : 1;
  const exits = runs.flatMap((r) => r.exitLayers);
  return { agreement, lowerBound: agreement - (z * sd) / Math.sqrt(per.length), meanExitLayer: exits.length ? exits.reduce((a, b) => a + b, 0) / exits.length : null };
}

/**
 * CALM-style calibration: walk the candidates from the most conservative down, keeping going while
 * the lower bound of token agreement with the full model on the calibration half meets the target,
 * and stop at the first failure (fixed-sequence testing, so the choice never rests on a threshold
 * that only passed after a lower one failed). z = 0 tests the plain empirical agreement. The choice
 * is then checked on the held-out half. The calibration prompts are the tuning prompts (bench/tuning.json:
 * code neither trained on nor held out), so the benchmark's prompts never set the threshold; `--prompts
 * heldout` calibrates on the other half of the benchmark's prompts instead, as before session 19.
 * With `--min-exit-layers`, the walk runs once per minimum exit layer (a layer below it never exits, and
 * never pays for the LM head's check), and a speed round, interleaved with autoregressive decoding on the
 * calibration prompts, picks the fastest of the pairs that passed. Choosing among several passing pairs
 * is a multiple comparison that the per-pair bound does not correct for; the held-out check reports how
 * the chosen pair fares on prompts the choice never saw.
 */
async function calibrate(v: Values): Promise<void> {
  const target = num(v.agreement, 'agreement', 0, 1);
  const z = num(v.z, 'z', 0, 10);
  const limit = v.limit ? num(v.limit, 'limit', 1, 1e6, true) : v.quick ? 4 : 10;
  const maxNew = num(v['max-tokens'], 'max-tokens', 1, 1024, true);
  const perKind = (items: WorkloadItem[]) => items.filter((_, i, all) => all.slice(0, i).filter((x) => x.kind === all[i]!.kind).length < limit);
  const file = promptSetFile(v.prompts ?? 'tuning', fail);
  const calib = perKind(file === TUNING_FILE ? loadWorkloads(WORKLOAD_KINDS, Infinity, file) : split(loadWorkloads(), 'calibration'));
  const held = perKind(split(loadWorkloads(), 'evaluation'));
  const base = exitSettings(v);
  const layersList = v['min-exit-layers'] ? (v['min-exit-layers'] as string).split(',').map((x) => num(x, 'min-exit-layers', 0, 1024, true)) : [base.minExitLayer!];
  const engine = await loadEngine(v);
  const L = engine.target.folder.config.numLayers;
  for (const l of layersList) if (l > L) fail(`--min-exit-layers: ${l} is beyond this ${L}-layer model`);
  try {
    const runAll = (items: WorkloadItem[], strategy: Strategy, settings: Partial<DecodeSettings>) => each(items, (it) => runOnce(engine, it, strategy, settings, maxNew));
    const calibRef = new Map((await runAll(calib, 'autoregressive', {})).map((r) => [r.item, r]));
    const heldRef = new Map((await runAll(held, 'autoregressive', {})).map((r) => [r.item, r]));
    const results: Record<string, unknown> = {};
    for (const m of measures(v, engine)) {
      const pair = (minExitLayer: number, exitThreshold: number): Partial<DecodeSettings> => ({ ...base, minExitLayer, exitMeasure: m, exitThreshold });
      // Per minimum exit layer, the threshold walk; then, with several layers, a speed round picks the pair.
      const perLayer: { minExitLayer: number; chosen: CalibrationPoint | null; tried: CalibrationPoint[]; speedup?: number }[] = [];
      for (const layer of layersList) {
        const tried: CalibrationPoint[] = [];
        for (const t of CALIBRATION) {
          const s = score(await runAll(calib, 'early-exit', pair(layer, t)), calibRef, z);
          tried.push({ threshold: t, ...s, passed: s.lowerBound >= target });
          process.stderr.write(`\r${m}${layersList.length > 1 ? ` from layer ${layer}` : ''} @ ${t}: agreement ${pct(s.agreement)} (lower bound ${pct(s.lowerBound)}), mean exit ${s.meanExitLayer?.toFixed(2) ?? '-'}`.padEnd(100));
          if (s.lowerBound < target) break;
        }
        perLayer.push({ minExitLayer: layer, chosen: tried.filter((p) => p.passed).pop() ?? null, tried });
      }
      process.stderr.write('\n');
      const candidates = perLayer.filter((p) => p.chosen);
      if (layersList.length > 1 && candidates.length > 0) {
        // Speed round: every candidate pair and autoregressive decoding on each calibration prompt, in an order that rotates per prompt.
        const configs = [null, ...candidates];
        const runs = new Map<number | null, Run[]>(configs.map((c) => [c?.minExitLayer ?? null, []]));
        for (const [n, it] of calib.entries()) {
          for (let k = 0; k < configs.length; k++) {
            const c = configs[(k + n) % configs.length]!;
            runs.get(c?.minExitLayer ?? null)!.push(c ? await runOnce(engine, it, 'early-exit', pair(c.minExitLayer, c.chosen!.threshold), maxNew) : await runOnce(engine, it, 'autoregressive', {}, maxNew));
          }
        }
        const ar = decodeRate(runs.get(null)!);
        for (const c of candidates) c.speedup = decodeRate(runs.get(c.minExitLayer)!) / ar;
        for (const c of perLayer) {
          console.log(`${m.padEnd(10)} from layer ${c.minExitLayer}: ${c.chosen ? `threshold ${c.chosen.threshold}, agreement ${pct(c.chosen.agreement)} (lower bound ${pct(c.chosen.lowerBound)}), mean exit ${c.chosen.meanExitLayer?.toFixed(2) ?? '-'}, ${c.speedup!.toFixed(2)}x of autoregressive` : 'no threshold passes'}`);
        }
      }
      const best = candidates.length ? candidates.reduce((a, b) => ((b.speedup ?? 0) > (a.speedup ?? 0) ? b : a)) : null;
      const chosen = best?.chosen ?? null;
      const check = chosen ? score(await runAll(held, 'early-exit', pair(best!.minExitLayer, chosen.threshold)), heldRef, z) : null;
      results[m] = { chosen: chosen?.threshold ?? null, minExitLayer: best?.minExitLayer ?? null, calibration: chosen, heldOut: check, tried: perLayer.length === 1 ? perLayer[0]!.tried : undefined, perLayer: perLayer.length > 1 ? perLayer : undefined };
      const where = layersList.length > 1 && best ? ` from layer ${best.minExitLayer}` : '';
      console.log(chosen
        ? `${m.padEnd(10)} threshold ${chosen.threshold}${where}: agreement ${pct(chosen.agreement)} (lower bound ${pct(chosen.lowerBound)}) on calibration (${calib.length} prompts), ${pct(check!.agreement)} held out (${held.length}); mean exit layer ${chosen.meanExitLayer?.toFixed(2) ?? '-'} of ${L}`
        : `${m.padEnd(10)} no threshold down from ${CALIBRATION[0]} reaches ${pct(target)} (lower bound ${pct(perLayer[0]!.tried[0]!.lowerBound)} at ${perLayer[0]!.tried[0]!.threshold})`);
    }
    if (typeof v.json === 'string') {
      const out = { experiment: 'calibrate', model: engine.target.folder.name, prompts: v.prompts ?? 'tuning', target, z, maxNewTokens: maxNew, settings: base, minExitLayers: layersList, calibrationItems: calib.length, heldOutItems: held.length, machine: machine(), measures: results };
      fs.mkdirSync(path.dirname(path.resolve(v.json)), { recursive: true });
      fs.writeFileSync(v.json, JSON.stringify(out, null, 1));
      console.log(`wrote ${v.json}`);
    }
  } finally {
    await engine.dispose();
  }
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

async function each<T, R>(xs: T[], f: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (const x of xs) out.push(await f(x));
  return out;
}

/** Entry point for `hasten calibrate` and `hasten exit-sweep`. */
export async function exitsCommand(cmd: 'calibrate' | 'exit-sweep', args: string[]): Promise<void> {
  let v: Values;
  try {
    v = parseArgs({ args, options: OPTIONS, strict: true }).values as Values;
  } catch (err) {
    fail((err as Error).message);
  }
  return cmd === 'calibrate' ? calibrate(v) : sweep(v);
}
