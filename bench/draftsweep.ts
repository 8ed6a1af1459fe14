// Experiment 1 of the seed: draft model size x draft length k -> acceptance rate and wall-clock
// speed-up. Each draft model gets its own engine (the same target); on every prompt the engine runs
// autoregressive decoding and the draft-model chain at each fixed k (plus the adaptive default), in
// a rotating order, so each speed-up is against autoregressive decoding on the same prompts in the
// same stretch of the run.
import fs from 'node:fs';
import path from 'node:path';
import { Engine, EngineOptions } from '../src/engine';
import { decodeRate } from './metrics';
import { runOne, RunRecord } from './run';
import { WorkloadItem } from './workloads';

export interface DraftSweepPoint {
  draft: string;
  draftParams: number | null;
  /** null: the adaptive default (+2 after a full match, -1 otherwise), starting at 4. */
  k: number | null;
  runs: number;
  failed: number;
  acceptanceRate: number;
  meanAcceptedPerStep: number;
  tokensPerStep: number;
  tokensPerSecond: number;
  speedup: number;
  /** Runs identical to autoregressive decoding (the chain is lossless). */
  identical: number;
  firstError?: string;
}

export interface DraftSweepOptions {
  targetDir: string;
  draftDirs: string[];
  ks: number[];
  maxNewTokens: number;
  runtime: NonNullable<EngineOptions['runtime']>;
  onProgress?: (label: string) => void;
}

/** Parameter count from config.json's `hasten` block (written by the toolchain), if present. */
export function params(dir: string): number | null {
  try {
    return (JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as { hasten?: { params?: number } }).hasten?.params ?? null;
  } catch {
    return null;
  }
}

const rate = decodeRate;

export async function runDraftSweep(items: WorkloadItem[], o: DraftSweepOptions): Promise<DraftSweepPoint[]> {
  const points: DraftSweepPoint[] = [];
  for (const draftDir of o.draftDirs) {
    const engine = await Engine.load({ modelDir: o.targetDir, draftDir, runtime: o.runtime, log: () => {} });
    try {
      const draft = engine.draft!.folder;
      const configs: (number | null)[] = [...o.ks, null];
      const ar: RunRecord[] = [];
      const runs = new Map<number | null, RunRecord[]>(configs.map((k) => [k, []]));
      const order: (number | null | 'ar')[] = ['ar', ...configs];
      for (const [n, item] of items.entries()) {
        for (let j = 0; j < order.length; j++) {
          const c = order[(j + n) % order.length]!;
          if (c === 'ar') ar.push(await runOne(engine, item, 'autoregressive', o.maxNewTokens));
          else runs.get(c)!.push(await runOne(engine, item, 'draft-model', o.maxNewTokens, c === null ? { draftLength: 4, draftAdaptive: true } : { draftLength: c, draftAdaptive: false }));
          o.onProgress?.(`${draft.name} ${c === 'ar' ? 'autoregressive' : `k=${c ?? 'adaptive'}`} ${item.id}`);
        }
      }
      const base = new Map(ar.filter((r) => !r.error).map((r) => [r.item, r]));
      for (const k of configs) {
        const rs = runs.get(k)!;
        const ok = rs.filter((r) => !r.error && base.has(r.item));
        const drafted = ok.reduce((s, r) => s + r.drafted, 0);
        const accepted = ok.reduce((s, r) => s + r.accepted, 0);
        const steps = ok.reduce((s, r) => s + r.steps, 0);
        points.push({
          draft: draft.name, draftParams: params(draft.dir), k, runs: rs.length, failed: rs.length - ok.length,
          acceptanceRate: drafted ? accepted / drafted : 0, meanAcceptedPerStep: steps ? accepted / steps : 0, tokensPerStep: steps ? ok.reduce((s, r) => s + r.tokens, 0) / steps : 0,
          tokensPerSecond: rate(ok), speedup: rate(ok) / rate(ok.map((r) => base.get(r.item)!)),
          identical: ok.filter((r) => JSON.stringify(r.output) === JSON.stringify(base.get(r.item)!.output)).length,
          ...(rs.find((r) => r.error) ? { firstError: rs.find((r) => r.error)!.error } : {}),
        });
      }
    } finally {
      await engine.dispose();
    }
  }
  return points;
}
