// The context a model runs at when hasten.contextTokens is unset: on a CPU, the largest power of two
// whose cold prompt prefills within a time budget, from the measured prefill cost; elsewhere 8,192.
import os from 'node:os';
import type { Provider } from './session';

/**
 * The longest a cold prompt may take to prefill: a file's first completion, or the first after a jump.
 * Later keystrokes reuse its KV cache and pay only for new tokens (issue 14's typing targets, p50 ≤ 250
 * ms, are for those), so a cold prompt may take a few seconds, not tens.
 */
export const COLD_PREFILL_MS = 4000;

/**
 * Measured cold prefill cost of a 0.5B model (Qwen2.5-Coder-0.5B's shape, int4, the builder's fast
 * graph), ms per prompt token, by intra-op threads, on the 2-vCPU reference machine (AMD EPYC): 3,721
 * ms and 1,782 ms per 1,000 tokens at 1 and 2 threads in the `standin` section of the full
 * `npm run bench` on an idle machine (bench/report/REPORT.md, 2026-12-01). A prompt's cost is taken as
 * this times its length: `npx tsx bench/prefillCost.ts` (2 threads, on a loaded machine, fastest of 3)
 * measured 8.4 ms a token at 512 and 1,024 tokens and 9.5 at 1,984, so attention adds about 13% at
 * 2,000 tokens, which the budget's rounding to a power of two absorbs (README, "KV cache").
 */
export const CPU_PREFILL_MS_PER_TOKEN: Readonly<Record<1 | 2, number>> = { 1: 3.72, 2: 1.78 };

/** Threads beyond 2 are not measured: assumed to scale as from 1 to 2 (2.09×), linearly, up to 8. */
const MAX_SCALED_THREADS = 8;
const ACCELERATOR_CONTEXT = 8192;
const MIN_CONTEXT = 1024;

/** Prefill ms per prompt token on a CPU at `threads` intra-op threads (0: as many as the machine has, as onnxruntime does). */
export function cpuPrefillMsPerToken(threads: number): number {
  const t = Math.max(1, Math.min(MAX_SCALED_THREADS, threads > 0 ? threads : os.availableParallelism?.() ?? os.cpus().length));
  return t === 1 ? CPU_PREFILL_MS_PER_TOKEN[1] : (CPU_PREFILL_MS_PER_TOKEN[2] * 2) / t;
}

/**
 * The context used when none is set, never more than the model allows. On a CPU: the largest power of
 * two (from 1,024 to 8,192) whose prompt a 0.5B model prefills within COLD_PREFILL_MS, 2,048 at 2
 * threads (a 2,000-token prompt in 3.6 s), 1,024 at 1, 8,192 from 8. A larger model prefills
 * proportionally slower: hasten.contextTokens sets its context. On an accelerator 8,192 (its prefill
 * is not measured here).
 */
export function autoContext(provider: Provider, modelContext: number, threads = 0): number {
  if (provider !== 'cpu') return Math.min(modelContext, ACCELERATOR_CONTEXT);
  const fits = COLD_PREFILL_MS / cpuPrefillMsPerToken(threads);
  let c = MIN_CONTEXT;
  while (c * 2 <= fits && c * 2 <= ACCELERATOR_CONTEXT) c *= 2;
  return Math.min(modelContext, c);
}
