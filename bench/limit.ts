// The physical limit of verification on this machine: what one forward pass over T tokens after a
// realistic past costs, relative to one token. A speculative strategy that verifies T tokens per
// step and keeps τ of them can at best reach τ / cost(T) even if drafting were free; with every
// draft accepted the ceiling is T / cost(T).
import { CausalModel } from '../src/engine/model/causal';
import { Engine } from '../src/engine';
import { WorkloadItem } from './workloads';

export interface VerifyCostPoint {
  T: number;
  medianMs: number;
  /** medianMs / medianMs at T = 1. */
  relative: number;
}

export interface VerifyCost {
  model: string;
  past: number;
  repeats: number;
  points: VerifyCostPoint[];
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/**
 * Times forward passes of T = 1..maxT chain tokens after a past of the item's prompt, in a rotating
 * order so drift hits every T alike. Each pass is rolled back and the cache compacted (untimed), so
 * every pass sees exactly the same past.
 */
export async function measureVerifyCost(model: CausalModel, prompt: readonly number[], o: { maxT: number; repeats: number; onProgress?: (done: number, total: number) => void }): Promise<VerifyCost> {
  model.reset();
  await model.forward(prompt, null);
  model.commit(prompt.map((_, i) => i));
  const Ts = Array.from({ length: o.maxT }, (_, i) => i + 1);
  const filler = Array.from({ length: o.maxT }, (_, i) => prompt[(i * 7) % prompt.length]!);
  const times = new Map<number, number[]>(Ts.map((t) => [t, []]));
  // One untimed pass per T first: graph shapes seen for the first time cost allocations.
  for (const T of Ts) {
    await model.forward(filler.slice(0, T), null);
    model.commit([]);
    model.cache.compact();
  }
  let done = 0;
  for (let r = 0; r < o.repeats; r++) {
    for (let k = 0; k < Ts.length; k++) {
      const T = Ts[(k + r) % Ts.length]!;
      const t0 = performance.now();
      await model.forward(filler.slice(0, T), null);
      times.get(T)!.push(performance.now() - t0);
      model.commit([]);
      model.cache.compact();
      o.onProgress?.(++done, o.repeats * Ts.length);
    }
  }
  const base = median(times.get(1)!);
  const points = Ts.map((T) => ({ T, medianMs: median(times.get(T)!), relative: median(times.get(T)!) / base }));
  model.reset();
  return { model: model.folder.name, past: prompt.length, repeats: o.repeats, points };
}

/** Draft-model cost per token relative to the target's, measured the same way (T = 1). */
export async function stepCost(model: CausalModel, prompt: readonly number[], repeats: number): Promise<number> {
  return (await measureVerifyCost(model, prompt, { maxT: 1, repeats })).points[0]!.medianMs;
}

/** Relative cost of verifying T tokens, interpolated for a fractional mean T. */
export function costAt(cost: VerifyCost, T: number): number {
  const pts = cost.points;
  if (T <= 1) return 1;
  if (T >= pts.length) return pts[pts.length - 1]!.relative * (T / pts.length);
  const lo = Math.floor(T);
  const f = T - lo;
  return pts[lo - 1]!.relative * (1 - f) + pts[lo]!.relative * f;
}

/** The past the measurement runs after: the longest of the items' prompts, cut to leave room for maxT tokens. */
export function limitPrompt(engine: Engine, items: WorkloadItem[], maxNewTokens: number, maxT: number): number[] {
  const longest = items.map((i) => engine.prompt(i.prefix, i.suffix, maxNewTokens)).sort((a, b) => b.length - a.length)[0]!;
  return longest.slice(Math.max(0, longest.length - (engine.target.contextLength - maxT - 1)));
}
