// Runs strategies over workloads against our own autoregressive decoding, interleaved so that
// machine drift hits every strategy alike, and reduces the runs to the benchmark's figures.
import { CompletionTrace, DecodeSettings, Engine, Strategy, summarise } from '../src/engine';
import { decodeRate, meanPrefillMs } from './metrics';
import { WorkloadItem, WorkloadKind } from './workloads';

export interface RunRecord {
  item: string;
  kind: WorkloadKind;
  strategy: Strategy;
  tokens: number;
  decodeMs: number;
  prefillMs: number;
  steps: number;
  drafted: number;
  accepted: number;
  /** Time spent drafting and verifying (verify, accept, roll back, update), summed over the decode loop's steps. */
  draftMs: number;
  verifyMs: number;
  output: number[];
  error?: string;
}

export interface BenchRow {
  strategy: Strategy;
  workload: WorkloadKind;
  runs: number;
  failed: number;
  tokens: number;
  tokensPerSecond: number;
  speedup: number;
  acceptanceRate: number;
  meanAcceptedPerStep: number;
  tokensPerStep: number;
  /** Mean time a decode-loop step spends drafting, and verifying (the target's pass, acceptance, rollback), ms. */
  draftMsPerStep: number;
  verifyMsPerStep: number;
  /** Mean prefill per run, ms: the prompt through every model the strategy runs (the target, and a draft model's own cache). */
  prefillMs: number;
  /** Runs whose tokens equal autoregressive decoding's, out of `runs`. */
  identical: number;
  lossless: boolean;
  firstError?: string;
}

export interface BenchOptions {
  strategies: Strategy[];
  maxNewTokens: number;
  onProgress?: (done: number, total: number, label: string) => void;
  /** Untimed, before an item's runs: e.g. the workspace as the editor holds it at that cursor (BenchWorkspace). */
  beforeItem?: (item: WorkloadItem) => Promise<void>;
}

function record(item: WorkloadItem, strategy: Strategy, t: CompletionTrace): RunRecord {
  const s = summarise(t);
  const draftMs = t.steps.reduce((a, st) => a + st.draftMs, 0);
  const verifyMs = t.steps.reduce((a, st) => a + st.verifyMs, 0);
  return { item: item.id, kind: item.kind, strategy, tokens: t.tokens, decodeMs: t.decodeMs, prefillMs: t.prefillMs, steps: s.steps, drafted: s.drafted, accepted: s.accepted, draftMs, verifyMs, output: t.output };
}

/** One completion with empty caches, so every run pays the same prefill. */
export async function runOne(engine: Engine, item: WorkloadItem, strategy: Strategy, maxNewTokens: number, settings?: Partial<DecodeSettings>): Promise<RunRecord> {
  await engine.reset();
  try {
    let trace: CompletionTrace | undefined;
    for await (const u of engine.complete({ prefix: item.prefix, suffix: item.suffix, strategy, maxNewTokens, ...(settings ? { settings } : {}) })) if (u.done) trace = u.trace;
    return record(item, strategy, trace!);
  } catch (err) {
    return { item: item.id, kind: item.kind, strategy, tokens: 0, decodeMs: 0, prefillMs: 0, steps: 0, drafted: 0, accepted: 0, draftMs: 0, verifyMs: 0, output: [], error: err instanceof Error ? err.message : String(err) };
  }
}

/** Every item runs autoregressive decoding and each strategy, in an order that rotates per item. */
export async function runBench(engine: Engine, items: WorkloadItem[], o: BenchOptions): Promise<RunRecord[]> {
  const all: Strategy[] = ['autoregressive', ...o.strategies.filter((s) => s !== 'autoregressive')];
  const records: RunRecord[] = [];
  const total = items.length * all.length;
  for (const [n, item] of items.entries()) {
    await o.beforeItem?.(item);
    for (let k = 0; k < all.length; k++) {
      const strategy = all[(k + n) % all.length]!;
      records.push(await runOne(engine, item, strategy, o.maxNewTokens));
      o.onProgress?.(records.length, total, `${item.id} ${strategy}`);
    }
  }
  return records;
}

/** Reduces runs to one row per strategy and workload. */
export function tabulate(records: RunRecord[]): BenchRow[] {
  const ar = new Map(records.filter((r) => r.strategy === 'autoregressive').map((r) => [r.item, r]));
  const keys = [...new Set(records.map((r) => `${r.strategy}|${r.kind}`))];
  const rate = decodeRate;
  return keys.map((key) => {
    const [strategy, workload] = key.split('|') as [Strategy, WorkloadKind];
    const rs = records.filter((r) => r.strategy === strategy && r.kind === workload);
    const ok = rs.filter((r) => !r.error);
    const base = ok.map((r) => ar.get(r.item)).filter((r): r is RunRecord => !!r && !r.error);
    const tps = rate(ok);
    const baseTps = rate(base);
    const identical = ok.filter((r) => JSON.stringify(r.output) === JSON.stringify(ar.get(r.item)?.output)).length;
    const steps = ok.reduce((s, r) => s + r.steps, 0);
    const drafted = ok.reduce((s, r) => s + r.drafted, 0);
    const accepted = ok.reduce((s, r) => s + r.accepted, 0);
    const tokens = ok.reduce((s, r) => s + r.tokens, 0);
    return {
      strategy, workload, runs: rs.length, failed: rs.length - ok.length, tokens,
      tokensPerSecond: tps, speedup: baseTps > 0 ? tps / baseTps : 0,
      acceptanceRate: drafted ? accepted / drafted : 0, meanAcceptedPerStep: steps ? accepted / steps : 0,
      tokensPerStep: steps ? tokens / steps : 0,
      draftMsPerStep: steps ? ok.reduce((s, r) => s + r.draftMs, 0) / steps : 0,
      verifyMsPerStep: steps ? ok.reduce((s, r) => s + r.verifyMs, 0) / steps : 0,
      prefillMs: meanPrefillMs(ok), identical, lossless: ok.length > 0 && identical === ok.length,
      ...(rs.find((r) => r.error) ? { firstError: rs.find((r) => r.error)!.error } : {}),
    };
  });
}

export function formatTable(rows: BenchRow[]): string {
  const head = ['strategy', 'workload', 'tok/s', 'speed-up', 'acceptance', 'accepted/step', 'tokens/step', 'draft ms/step', 'verify ms/step', 'prefill ms', 'identical', 'failed'];
  const body = rows.map((r) => [r.strategy, r.workload, r.tokensPerSecond.toFixed(1), `${r.speedup.toFixed(2)}x`, `${(100 * r.acceptanceRate).toFixed(1)}%`,
    r.meanAcceptedPerStep.toFixed(2), r.tokensPerStep.toFixed(2), r.draftMsPerStep.toFixed(2), r.verifyMsPerStep.toFixed(2), r.prefillMs.toFixed(0), `${r.identical}/${r.runs - r.failed}`, String(r.failed)]);
  const width = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(width[i]!)).join('  ');
  return [line(head), line(width.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}
