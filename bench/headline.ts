// The report's headline: every strategy of ours and every peer system on the same held-out prompt
// token ids, interleaved per prompt (the order rotates) so machine drift hits all alike, reduced to
// tokens/s, speed-up over our autoregressive decoding on the same prompts, acceptance, tokens per
// step, token-by-token identity with autoregressive decoding, and quality for lossy strategies.
import { DecodeSettings, Engine, Strategy } from '../src/engine';
import { prefill } from '../src/engine/decoders/common';
import { seededRandom } from '../src/engine/sampling';
import { PeerSystem } from './peers/types';
import { agreementCounts, decodeRate, meanPrefillMs } from './metrics';
import { runOne } from './run';
import { WorkloadItem, WorkloadKind } from './workloads';

export interface HeadlineSystem {
  id: string;
  family: 'hasten' | 'peer';
  /** Lossy strategies are not expected to match autoregressive decoding; their quality is reported instead. */
  lossy: boolean;
  strategy?: Strategy;
  settings?: Partial<DecodeSettings>;
  peer?: PeerSystem;
  /** Runs on this engine instead of the headline's (another graph or precision of the same model). */
  engine?: Engine;
}

export interface HeadlineRecord {
  item: string;
  workload: WorkloadKind;
  system: string;
  tokens: number;
  decodeMs: number;
  prefillMs: number;
  steps: number | null;
  drafted: number | null;
  accepted: number | null;
  output: number[];
  error?: string;
}

export interface HeadlineRow {
  system: string;
  family: 'hasten' | 'peer';
  lossy: boolean;
  workload: WorkloadKind | 'all';
  runs: number;
  failed: number;
  tokens: number;
  tokensPerSecond: number;
  /** Decode tokens/s over our autoregressive decoding's on the same prompts, same run. */
  speedup: number;
  acceptanceRate: number | null;
  meanAcceptedPerStep: number | null;
  tokensPerStep: number | null;
  /** Tokens the target verified per step: drafted / steps + 1. */
  verifyWidth: number | null;
  /** Mean prefill per run, ms: the prompt through every model the system runs (a draft model's too). */
  prefillMs: number;
  /** Runs token-for-token identical to our autoregressive decoding. */
  identical: number;
  /** Position-wise token agreement with autoregressive decoding (matches / longer length). */
  agreement: number;
  /** Completions whose first line equals the held-out truth's first line. */
  lineExact: number;
  firstError?: string;
}

export const AUTOREGRESSIVE = 'autoregressive';

export interface HeadlineOptions {
  systems: HeadlineSystem[];
  maxNewTokens: number;
  /** Untimed, before an item's runs (the warm-up's included): e.g. the workspace as the editor holds it at that cursor (BenchWorkspace). */
  beforeItem?: (item: WorkloadItem) => Promise<void>;
  onProgress?: (label: string) => void;
}

/**
 * What a peer is given. Our engine heals the token boundary at the cursor: the prompt ends one token
 * early and the first token is chosen among those that start with that token's text. The peers have
 * no such constraint, so they get our prompt plus our first token (greedy, computed here the way our
 * decoders do it, untimed) and continue from there; their first timed token is our second.
 */
export async function peerPrompt(engine: Engine, item: Pick<WorkloadItem, 'prefix' | 'suffix'>, maxNewTokens: number): Promise<{ prompt: number[]; first: number }> {
  const { ids, heal } = engine.promptFor(item.prefix, item.suffix, maxNewTokens);
  await engine.reset();
  const { first: logits } = await prefill(engine.target, ids, undefined, heal);
  await engine.reset();
  const first = logits.argmax(0);
  return { prompt: [...ids, first], first };
}

async function runPeer(engine: Engine, item: WorkloadItem, s: HeadlineSystem, maxNewTokens: number, given: () => Promise<{ prompt: number[]; first: number }>): Promise<HeadlineRecord> {
  const base = { item: item.id, workload: item.kind, system: s.id };
  try {
    const stops = engine.target.folder.tokenizer.stopIds;
    const { prompt, first } = await given();
    if (stops.has(first)) return { ...base, tokens: 0, decodeMs: 0, prefillMs: 0, steps: null, drafted: null, accepted: null, output: [] };
    const r = await s.peer!.generate(prompt, maxNewTokens - 1, [...stops]);
    if (r.error) throw new Error(r.error);
    return { ...base, tokens: r.tokens, decodeMs: r.decodeMs, prefillMs: r.prefillMs, steps: r.steps ?? null, drafted: r.drafted ?? null, accepted: r.accepted ?? null, output: [first, ...r.output] };
  } catch (err) {
    return { ...base, tokens: 0, decodeMs: 0, prefillMs: 0, steps: null, drafted: null, accepted: null, output: [], error: err instanceof Error ? err.message : String(err) };
  }
}

/**
 * The order systems run in on the `n`th item: the rows of a Williams design (a Latin square in which
 * each system directly follows every other equally often), each used for two items in turn, the
 * second time reversed. Over any 2 × (number of systems) items, each system runs in each position
 * equally often and directly after each other system exactly twice. A run leaves state behind for
 * the next (memory the allocators hold, garbage to collect): in the last full report the one of
 * auto and prompt lookup that ran second was 4% faster on the same work, and with a rotation
 * (reversed on odd items) auto followed autoregressive decoding on every even item and prompt
 * lookup never did, which cost auto 2% overall.
 */
export function systemOrder<T>(systems: readonly T[], n: number): T[] {
  const m = systems.length;
  const row = Math.floor(n / 2) % m;
  // Williams' first row 0, 1, m-1, 2, m-2, ...; row r adds r to each entry (mod m).
  const first = Array.from({ length: m }, (_, j) => (j === 0 ? 0 : j % 2 ? (j + 1) / 2 : m - j / 2));
  const order = first.map((k) => systems[(k + row) % m]!);
  return n % 2 ? order.reverse() : order;
}

/**
 * Runs every system on every item, in the order `systemOrder` gives, after one untimed run of each
 * system on the first item, so that no system's timed runs pay the process's first-use costs (ORT's
 * first runs of each shape, JIT, a drafter's creation) and each starts from the same state.
 */
export async function runHeadline(engine: Engine, items: WorkloadItem[], o: HeadlineOptions): Promise<HeadlineRecord[]> {
  const out: HeadlineRecord[] = [];
  const warm = items[0];
  if (warm) {
    await o.beforeItem?.(warm);
    for (const s of o.systems) {
      if (s.peer) await runPeer(engine, warm, s, o.maxNewTokens, () => peerPrompt(engine, warm, o.maxNewTokens));
      else await runOne(s.engine ?? engine, warm, s.strategy!, o.maxNewTokens, s.settings);
    }
  }
  for (const [n, item] of items.entries()) {
    // Every peer gets the same prompt and first token for this item: computed once.
    let given: Promise<{ prompt: number[]; first: number }> | undefined;
    await o.beforeItem?.(item);
    for (const s of systemOrder(o.systems, n)) {
      if (s.peer) {
        out.push(await runPeer(engine, item, s, o.maxNewTokens, () => (given ??= peerPrompt(engine, item, o.maxNewTokens))));
      } else {
        const r = await runOne(s.engine ?? engine, item, s.strategy!, o.maxNewTokens, s.settings);
        out.push({ item: r.item, workload: r.kind, system: s.id, tokens: r.tokens, decodeMs: r.decodeMs, prefillMs: r.prefillMs, steps: r.steps, drafted: r.drafted, accepted: r.accepted, output: r.output, ...(r.error ? { error: r.error } : {}) });
      }
      o.onProgress?.(`${item.id} ${s.id}`);
    }
  }
  return out;
}

const firstLine = (s: string) => s.split('\n')[0]!.trimEnd();

/** One row per system and workload, plus an `all` row per system; speed-up and identity are against system `base`. */
export function tabulateHeadline(records: HeadlineRecord[], systems: HeadlineSystem[], items: WorkloadItem[], decode: (ids: number[]) => string, base = AUTOREGRESSIVE): HeadlineRow[] {
  const ar = new Map(records.filter((r) => r.system === base && !r.error).map((r) => [r.item, r]));
  const truth = new Map(items.map((i) => [i.id, firstLine(i.truth)]));
  const rate = decodeRate;
  const rows: HeadlineRow[] = [];
  const workloads: (WorkloadKind | 'all')[] = [...new Set(items.map((i) => i.kind)), 'all'];
  for (const s of systems) {
    for (const w of workloads) {
      const rs = records.filter((r) => r.system === s.id && (w === 'all' || r.workload === w));
      if (rs.length === 0) continue;
      const ok = rs.filter((r) => !r.error && ar.has(r.item));
      const base = ok.map((r) => ar.get(r.item)!);
      const tps = rate(ok);
      const baseTps = rate(base);
      // Mask-Predict's steps are refinement passes over a span, not draft-and-verify: no acceptance.
      const counted = s.strategy === 'mask-predict' ? [] : ok.filter((r) => r.drafted !== null);
      const withSteps = ok.filter((r) => r.steps !== null);
      const drafted = counted.reduce((n, r) => n + r.drafted!, 0);
      const accepted = counted.reduce((n, r) => n + r.accepted!, 0);
      const steps = withSteps.reduce((n, r) => n + r.steps!, 0);
      const [match, total] = agreementCounts(ok.map((r) => [r.output, ar.get(r.item)!.output] as const));
      const text = (ids: number[]) => (ids.length ? decode(ids) : '');
      rows.push({
        system: s.id, family: s.family, lossy: s.lossy, workload: w, runs: rs.length, failed: rs.length - ok.length,
        tokens: ok.reduce((n, r) => n + r.tokens, 0), tokensPerSecond: tps, speedup: baseTps > 0 ? tps / baseTps : 0,
        acceptanceRate: drafted > 0 ? accepted / drafted : null,
        meanAcceptedPerStep: steps > 0 && drafted > 0 ? accepted / steps : null,
        tokensPerStep: steps > 0 ? withSteps.reduce((n, r) => n + r.tokens, 0) / steps : null,
        verifyWidth: steps > 0 && drafted > 0 ? drafted / steps + 1 : null,
        prefillMs: meanPrefillMs(ok),
        identical: ok.filter((r) => JSON.stringify(r.output) === JSON.stringify(ar.get(r.item)!.output)).length,
        agreement: total ? match / total : 1,
        lineExact: ok.length ? ok.filter((r) => firstLine(text(r.output)) === truth.get(r.item)).length / ok.length : 0,
        ...(rs.find((r) => r.error) ? { firstError: rs.find((r) => r.error)!.error } : {}),
      });
    }
  }
  return rows;
}

/** Auto against the fastest single lossless strategy of one workload. */
export interface AutoVsBest {
  workload: WorkloadKind | 'all';
  /** The fastest of our other strategies that ran without failure and identical to autoregressive decoding. */
  best: string;
  bestTokensPerSecond: number;
  autoTokensPerSecond: number;
  /** Auto's tok/s over the best's (timing: noisy per prompt, see `sameWork`). */
  ratio: number;
  /** Target passes (steps) auto and the best took over the workload: free of timing noise. */
  autoSteps: number;
  bestSteps: number;
  /** Prompts on which auto did the best's exact work (the same steps, drafted and accepted tokens), of `runs`. */
  sameWork: number;
  /** The median over prompts of the best's decode time over auto's (above 1: auto faster): a burst of load on a few prompts does not move it. */
  medianRatio: number;
  /** A 95% interval of that median (percentile bootstrap over prompts, seeded): where it holds 1, auto and the best are not told apart. */
  medianRange: [number, number];
  runs: number;
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((x, y) => x - y);
  const mid = s.length >> 1;
  return s.length === 0 ? 0 : s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

/** The 2.5th and 97.5th percentiles of the median of `xs` resampled with replacement `rounds` times (a fixed seed: the report is reproducible). */
export function bootstrapMedian(xs: readonly number[], rounds = 2000, rand = seededRandom(1)): [number, number] {
  if (xs.length === 0) return [0, 0];
  const meds = Array.from({ length: rounds }, () => median(Array.from(xs, () => xs[Math.floor(rand() * xs.length)]!))).sort((x, y) => x - y);
  return [meds[Math.floor(0.025 * rounds)]!, meds[Math.ceil(0.975 * rounds) - 1]!];
}

/** Per workload (and all together), auto against the fastest single lossless strategy; [] without auto. */
export function autoVsBest(rows: HeadlineRow[], records: HeadlineRecord[], auto = 'auto'): AutoVsBest[] {
  const out: AutoVsBest[] = [];
  for (const a of rows.filter((r) => r.system === auto)) {
    const best = rows
      .filter((r) => r.workload === a.workload && r.family === 'hasten' && !r.lossy && r.system !== auto && r.failed === 0 && r.identical === r.runs)
      .sort((x, y) => y.tokensPerSecond - x.tokensPerSecond)[0];
    if (!best) continue;
    const of = (system: string) => new Map(records.filter((r) => r.system === system && !r.error && (a.workload === 'all' || r.workload === a.workload)).map((r) => [r.item, r]));
    const ra = of(auto);
    const rb = of(best.system);
    const both = [...ra.keys()].filter((k) => rb.has(k));
    const steps = (m: Map<string, HeadlineRecord>) => both.reduce((n, k) => n + (m.get(k)!.steps ?? 0), 0);
    const same = both.filter((k) => ['steps', 'drafted', 'accepted', 'tokens'].every((f) => ra.get(k)![f as keyof HeadlineRecord] === rb.get(k)![f as keyof HeadlineRecord]));
    const ratios = both.filter((k) => ra.get(k)!.decodeMs > 0 && rb.get(k)!.decodeMs > 0).map((k) => rb.get(k)!.decodeMs / ra.get(k)!.decodeMs);
    out.push({
      workload: a.workload, best: best.system, bestTokensPerSecond: best.tokensPerSecond, autoTokensPerSecond: a.tokensPerSecond,
      ratio: best.tokensPerSecond > 0 ? a.tokensPerSecond / best.tokensPerSecond : 0, autoSteps: steps(ra), bestSteps: steps(rb), sameWork: same.length, runs: both.length,
      medianRatio: median(ratios), medianRange: bootstrapMedian(ratios),
    });
  }
  return out;
}
