// Experiment 3: Mask-Predict iterations T = 1..10 on held-out infilling, against autoregressive
// FIM decoding by the target on the same spans, in the same run, interleaved.
//   span16  16 tokens cut at each workload's cursor from the held-out source (the latency target's
//           case); the rest of the source is the suffix. Both methods may write at most 16 tokens;
//           Mask-Predict runs twice, with the length head's lengths and with the true length 16.
//   line    the workload's own truth, the rest of a line; both stop at the first newline.
// Latency is wall time from request to final text with empty caches (no KV reuse), as the editor
// would wait for it; quality is exact match, edit similarity and chrF against the true span.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DecodeSettings, Engine, PROVIDERS, Provider, Strategy } from '../src/engine';
import { chrF, editSimilarity, exactMatch } from './metrics';
import { loadWorkloads, WORKLOAD_KINDS, WorkloadItem } from './workloads';

const ROOT = path.resolve(__dirname, '..');
export const MASKPREDICT_USAGE = `  hasten maskpredict-sweep [--iterations 1,2,...,10] [--candidates 3] [--context 64] [--limit N] [--quick] [--json FILE] [common options]
      experiment 3: Mask-Predict T = 1..10 vs autoregressive FIM on held-out 16-token and rest-of-line spans`;

const OPTIONS = {
  iterations: { type: 'string' }, candidates: { type: 'string' }, context: { type: 'string' }, limit: { type: 'string' },
  json: { type: 'string' }, quick: { type: 'boolean', default: false },
  model: { type: 'string' }, draft: { type: 'string' }, provider: { type: 'string', default: 'cpu' }, threads: { type: 'string', default: '0' },
} as const;

type Values = Record<string, string | boolean | undefined>;
export type SpanSet = 'span16' | 'line';
export type Method = 'autoregressive' | 'mask-predict' | 'mask-predict-oracle';

/** One infilling case: prefix, true span, suffix. */
export interface Span {
  id: string;
  set: SpanSet;
  prefix: string;
  truth: string;
  suffix: string;
}

export interface SweepRecord {
  span: string;
  set: SpanSet;
  method: Method;
  T: number | null;
  latencyMs: number;
  tokens: number;
  text: string;
  exact: boolean;
  editSimilarity: number;
  chrF: number;
}

export interface SweepRow {
  set: SpanSet;
  method: Method;
  T: number | null;
  runs: number;
  meanLatencyMs: number;
  medianLatencyMs: number;
  /** Median latency over the autoregressive median on the same spans. */
  latencyRatio: number;
  meanTokens: number;
  exactMatch: number;
  editSimilarity: number;
  chrF: number;
}

function fail(msg: string): never {
  console.error(`hasten: ${msg}\nusage:\n${MASKPREDICT_USAGE}`);
  process.exit(2);
}

function ints(v: string | undefined, name: string, fallback: number[], lo: number, hi: number): number[] {
  const xs = v === undefined ? fallback : v.split(',').map(Number);
  if (xs.length === 0 || xs.some((x) => !Number.isInteger(x) || x < lo || x > hi)) fail(`--${name} takes integers in [${lo}, ${hi}] (got ${v})`);
  return xs;
}

/** The spans of the experiment, cut from held-out workloads with the target's tokenizer. */
export function makeSpans(engine: Engine, items: WorkloadItem[], maxSpan: number): Span[] {
  const tk = engine.target.folder.tokenizer;
  const out: Span[] = [];
  for (const it of items) {
    const after = it.truth + it.suffix;
    const ids = tk.encode(after);
    const truth16 = tk.decode(ids.slice(0, 16));
    // Cut only where the 16 tokens decode to an exact prefix of the source (no split character).
    if (ids.length > 16 && after.startsWith(truth16)) out.push({ id: `${it.id}/16`, set: 'span16', prefix: it.prefix, truth: truth16, suffix: after.slice(truth16.length) });
    const n = tk.encode(it.truth).length;
    if (n > 0 && n <= maxSpan && !it.truth.includes('\n')) out.push({ id: `${it.id}/line`, set: 'line', prefix: it.prefix, truth: it.truth, suffix: it.suffix });
  }
  return out;
}

const firstLine = (s: string) => s.split('\n')[0]!;

async function runOne(engine: Engine, span: Span, method: Method, T: number | null, base: Partial<DecodeSettings>): Promise<SweepRecord> {
  await engine.reset();
  const strategy: Strategy = method === 'autoregressive' ? 'autoregressive' : 'mask-predict';
  const settings: Partial<DecodeSettings> = { ...base, ...(T ? { maskPredictIterations: T } : {}), ...(method === 'mask-predict-oracle' ? { maskPredictLength: 16 } : {}) };
  const line = span.set === 'line';
  const t0 = performance.now();
  let text = '';
  let tokens = 0;
  for await (const u of engine.complete({ prefix: span.prefix, suffix: span.suffix, strategy, maxNewTokens: line ? 48 : 16, settings, ...(line ? { stopText: (s: string) => s.includes('\n') } : {}) })) {
    text = u.text;
    tokens = u.trace.tokens;
  }
  const latencyMs = performance.now() - t0;
  if (line) text = firstLine(text);
  return { span: span.id, set: span.set, method, T, latencyMs, tokens, text, exact: exactMatch(text, span.truth), editSimilarity: editSimilarity(text, span.truth), chrF: chrF(text, span.truth) };
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((s, x) => s + x, 0) / xs.length : 0);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2) : 0;
};

/** One row per span set, method and T. */
export function tabulateSweep(records: SweepRecord[]): SweepRow[] {
  const keys = [...new Set(records.map((r) => `${r.set}|${r.method}|${r.T ?? ''}`))];
  return keys.map((key) => {
    const rs = records.filter((r) => `${r.set}|${r.method}|${r.T ?? ''}` === key);
    const ar = records.filter((r) => r.set === rs[0]!.set && r.method === 'autoregressive' && rs.some((x) => x.span === r.span));
    const med = median(rs.map((r) => r.latencyMs));
    return {
      set: rs[0]!.set, method: rs[0]!.method, T: rs[0]!.T, runs: rs.length,
      meanLatencyMs: mean(rs.map((r) => r.latencyMs)), medianLatencyMs: med, latencyRatio: med / Math.max(1e-9, median(ar.map((r) => r.latencyMs))),
      meanTokens: mean(rs.map((r) => r.tokens)),
      exactMatch: mean(rs.map((r) => (r.exact ? 1 : 0))), editSimilarity: mean(rs.map((r) => r.editSimilarity)), chrF: mean(rs.map((r) => r.chrF)),
    };
  });
}

export function formatRows(rows: SweepRow[]): string {
  const head = ['set', 'method', 'T', 'runs', 'latency median', 'mean', 'vs AR', 'tokens', 'exact', 'edit sim', 'chrF'];
  const body = rows.map((r) => [r.set, r.method, r.T === null ? '-' : String(r.T), String(r.runs), `${r.medianLatencyMs.toFixed(0)} ms`, `${r.meanLatencyMs.toFixed(0)} ms`,
    `${r.latencyRatio.toFixed(2)}x`, r.meanTokens.toFixed(1), `${(100 * r.exactMatch).toFixed(1)}%`, r.editSimilarity.toFixed(3), r.chrF.toFixed(1)]);
  const width = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(width[i]!)).join('  ');
  return [line(head), line(width.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

export interface MaskPredictSweepOptions {
  iterations: number[];
  candidates: number;
  context: number;
  /** Workload items per kind the spans are cut from. */
  limit: number;
  onProgress?: (done: number, total: number, label: string) => void;
}

export interface MaskPredictSweepResult {
  cmlm: string;
  spans: Span[];
  rows: SweepRow[];
  records: SweepRecord[];
  seconds: number;
}

/** Experiment 3: every span runs autoregressive FIM and Mask-Predict at each T (and with the true length), in a rotating order. */
export async function runMaskPredictSweep(engine: Engine, o: MaskPredictSweepOptions): Promise<MaskPredictSweepResult> {
  const cmlm = await engine.nar.cmlm();
  const spans = makeSpans(engine, loadWorkloads(WORKLOAD_KINDS, o.limit), cmlm.maxSpan);
  const base: Partial<DecodeSettings> = { lengthCandidates: o.candidates, maskPredictContext: o.context };
  const plan: [Method, number | null][] = [['autoregressive', null], ...o.iterations.map((T): [Method, number] => ['mask-predict', T]), ...o.iterations.map((T): [Method, number] => ['mask-predict-oracle', T])];
  // Warm up both models (session start-up, the CMLM's lazy load) before anything is timed.
  await runOne(engine, spans[0]!, 'autoregressive', null, base);
  await runOne(engine, spans[0]!, 'mask-predict', 1, base);
  const records: SweepRecord[] = [];
  const t0 = Date.now();
  const perSpan = spans.map((span) => plan.filter(([m]) => m !== 'mask-predict-oracle' || span.set === 'span16'));
  const total = perSpan.reduce((n, t) => n + t.length, 0);
  for (const [n, span] of spans.entries()) {
    const runs = perSpan[n]!;
    // Rotate the order per span so drift on this shared machine hits every configuration alike.
    for (let k = 0; k < runs.length; k++) {
      const [method, T] = runs[(k + n) % runs.length]!;
      records.push(await runOne(engine, span, method, T, base));
      o.onProgress?.(records.length, total, `${span.id} ${method}${T ? ` T=${T}` : ''}`);
    }
  }
  return { cmlm: cmlm.folder.name, spans, rows: tabulateSweep(records), records, seconds: (Date.now() - t0) / 1000 };
}

export async function maskPredictCommand(args: string[]): Promise<void> {
  let v: Values;
  try {
    v = parseArgs({ args, options: OPTIONS, strict: true }).values as Values;
  } catch (err) {
    fail((err as Error).message);
  }
  const iterations = ints(v.iterations as string | undefined, 'iterations', v.quick ? [1, 2, 4, 10] : [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 1, 64);
  const [candidates] = ints(v.candidates as string | undefined, 'candidates', [3], 1, 16);
  const [context] = ints(v.context as string | undefined, 'context', [64], 8, 4096);
  const limit = v.limit ? ints(v.limit as string, 'limit', [], 1, 1e6)[0]! : v.quick ? 3 : 12;
  const provider = v.provider as string;
  if (!(PROVIDERS as readonly string[]).includes(provider)) fail(`unknown provider ${provider}`);
  const engine = await Engine.load({
    modelDir: (v.model as string | undefined) ?? path.join(ROOT, 'models', 'hasten-target'), draftDir: null,
    runtime: { provider: provider as Provider, threads: ints(v.threads as string, 'threads', [0], 0, 256)[0]! },
    log: (level, m) => console.error(`[${level}] ${m}`),
  });
  try {
    const r = await runMaskPredictSweep(engine, { iterations, candidates: candidates!, context: context!, limit, onProgress: (done, total) => process.stderr.write(`\r${done}/${total} runs`.padEnd(40)) });
    process.stderr.write('\n');
    const { rows, records, spans, cmlm } = r;
    console.log(formatRows(rows));
    console.log(`\n${spans.length} spans (${spans.filter((s) => s.set === 'span16').length} span16, ${spans.filter((s) => s.set === 'line').length} line) in ${r.seconds.toFixed(0)} s; ` +
      `Mask-Predict with l = ${candidates} length candidates and ${context} CMLM context tokens; latency is request to final text, empty caches.`);
    if (typeof v.json === 'string') {
      const out = {
        experiment: 'maskpredict-sweep', date: new Date().toISOString(), machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model ?? 'unknown', loadavg: os.loadavg() },
        target: engine.target.folder.name, cmlm, settings: { iterations, lengthCandidates: candidates, maskPredictContext: context, limitPerKind: limit },
        rows, records,
      };
      fs.mkdirSync(path.dirname(path.resolve(v.json)), { recursive: true });
      fs.writeFileSync(v.json, JSON.stringify(out, null, 1));
      console.log(`wrote ${v.json}`);
    }
  } finally {
    await engine.dispose();
  }
}
