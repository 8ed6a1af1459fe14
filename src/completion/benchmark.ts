// "Run benchmark on the current file": the configured strategy against autoregressive decoding at a
// few cursor positions, each run from an empty KV cache, comparing speed and output.
import type { CompletionRequest, CompletionUpdate, Strategy } from '../engine';

export interface BenchEngine {
  complete(req: CompletionRequest): AsyncIterable<CompletionUpdate>;
  reset(): Promise<void>;
}

export interface RunFigures {
  text: string;
  tokens: number;
  ms: number;
  /** The strategy the trace recorded (auto shows its choice). */
  strategy: string;
}

export interface PointResult {
  offset: number;
  line: number;
  baseline: RunFigures;
  candidate: RunFigures;
}

export interface BenchSummary {
  points: number;
  identical: number;
  baselineTps: number;
  candidateTps: number;
  /** Candidate tokens per second over baseline tokens per second. */
  speedup: number;
  strategies: string[];
}

/** Up to `n` cursor offsets spread over the file: the end of non-blank lines past the first few. */
export function benchmarkPoints(text: string, n: number): { offset: number; line: number }[] {
  const lines = text.split('\n');
  const ends: { offset: number; line: number }[] = [];
  let at = 0;
  for (let i = 0; i < lines.length; i++) {
    at += lines[i]!.length;
    if (i >= 2 && lines[i]!.trim() !== '') ends.push({ offset: at, line: i });
    at += 1;
  }
  if (ends.length <= n) return ends;
  return Array.from({ length: n }, (_, k) => ends[Math.floor(((k + 0.5) * ends.length) / n)]!);
}

async function once(engine: BenchEngine, text: string, offset: number, strategy: Strategy, base: Omit<CompletionRequest, 'prefix' | 'suffix' | 'strategy'>): Promise<RunFigures> {
  await engine.reset();
  const t0 = performance.now();
  let last: CompletionUpdate | undefined;
  for await (const u of engine.complete({ ...base, prefix: text.slice(0, offset), suffix: text.slice(offset), strategy })) last = u;
  return { text: last?.text ?? '', tokens: last?.trace.tokens ?? 0, ms: performance.now() - t0, strategy: last?.trace.strategy ?? strategy };
}

/** Runs both strategies at each point; stops between runs when `base.signal` aborts. */
export async function runBenchmark(
  engine: BenchEngine, text: string, points: readonly { offset: number; line: number }[], strategy: Strategy,
  base: Omit<CompletionRequest, 'prefix' | 'suffix' | 'strategy'>, onPoint: (done: number) => void = () => {},
): Promise<PointResult[]> {
  const out: PointResult[] = [];
  for (const p of points) {
    if (base.signal?.aborted) break;
    const baseline = await once(engine, text, p.offset, 'autoregressive', base);
    const candidate = await once(engine, text, p.offset, strategy, base);
    out.push({ ...p, baseline, candidate });
    onPoint(out.length);
  }
  return out;
}

export function summariseBenchmark(results: readonly PointResult[]): BenchSummary {
  const sum = (f: (r: PointResult) => number) => results.reduce((s, r) => s + f(r), 0);
  const bMs = sum((r) => r.baseline.ms);
  const cMs = sum((r) => r.candidate.ms);
  const baselineTps = bMs > 0 ? (1000 * sum((r) => r.baseline.tokens)) / bMs : 0;
  const candidateTps = cMs > 0 ? (1000 * sum((r) => r.candidate.tokens)) / cMs : 0;
  return {
    points: results.length,
    identical: results.filter((r) => r.baseline.text === r.candidate.text).length,
    baselineTps,
    candidateTps,
    speedup: baselineTps > 0 ? candidateTps / baselineTps : 0,
    strategies: [...new Set(results.map((r) => r.candidate.strategy))],
  };
}
