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
/** The smallest context chosen: a prompt of about 1,500 characters of code, whatever a cold prefill costs. */
export const MIN_CONTEXT = 512;

/** What a prompt token's prefill costs depends on: the decoder's shape (config.json). */
export interface PrefillShape {
  layers: number;
  hidden: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  intermediate: number;
}

/** The measured model's shape: Qwen2.5-Coder-0.5B (shared/notes/real-models.md). */
export const MEASURED_SHAPE: PrefillShape = { layers: 24, hidden: 896, heads: 14, kvHeads: 2, headDim: 64, intermediate: 4864 };
/** Prompt length of the measured per-token cost (the `standin` section prefills 1,000 tokens). */
const MEASURED_TOKENS = 1000;

/**
 * Attention's cost per multiply-add, relative to the weights' matmuls: 1, by count (at the measured
 * shape a token at 1,984 tokens then costs 5.5% more than one at 1,024). `bench/prefillCost.ts` on the
 * shared machine gave 13% more once (8.4 and 9.5 ms a token, loaded) and less another time (37.6 and
 * 32.0 ms, 2026-12-01, 20x the idle cost): too noisy to fit a weight on.
 */
export const ATTENTION_WEIGHT = 1;

/**
 * Relative cost of a prompt token at position ~`tokens`: the weights each token multiplies (q, k, v, o
 * and the gated MLP of every layer; the embedding is a lookup and the LM head runs on the last token
 * only) plus attention over the prompt (query heads × head size × positions, on average half the prompt
 * per token, for both the scores and the weighted sum).
 */
export function tokenCost(s: PrefillShape, tokens: number): number {
  const weights = s.layers * (s.hidden * (s.heads + 2 * s.kvHeads) * s.headDim + s.heads * s.headDim * s.hidden + 3 * s.hidden * s.intermediate);
  return weights + ATTENTION_WEIGHT * s.layers * s.heads * s.headDim * tokens;
}

/** The decoder's shape from config.json's standard fields (Llama, Qwen2, Mistral...); undefined when one is missing. */
export function prefillShape(raw: Record<string, unknown>): PrefillShape | undefined {
  const n = (k: string) => (typeof raw[k] === 'number' && Number.isFinite(raw[k]) && (raw[k] as number) > 0 ? (raw[k] as number) : undefined);
  const layers = n('num_hidden_layers');
  const hidden = n('hidden_size');
  const heads = n('num_attention_heads');
  const intermediate = n('intermediate_size');
  if (!layers || !hidden || !heads || !intermediate) return undefined;
  return { layers, hidden, heads, kvHeads: n('num_key_value_heads') ?? heads, headDim: n('head_dim') ?? hidden / heads, intermediate };
}

/** Prefill ms per prompt token on a CPU at `threads` intra-op threads (0: as many as the machine has, as onnxruntime does), for the measured shape at 1,000 tokens. */
export function cpuPrefillMsPerToken(threads: number): number {
  const t = Math.max(1, Math.min(MAX_SCALED_THREADS, threads > 0 ? threads : os.availableParallelism?.() ?? os.cpus().length));
  return t === 1 ? CPU_PREFILL_MS_PER_TOKEN[1] : (CPU_PREFILL_MS_PER_TOKEN[2] * 2) / t;
}

/** Estimated ms of a cold CPU prefill of `tokens` on a model of `shape`: the measured cost scaled by `tokenCost`. */
export function cpuPrefillMs(shape: PrefillShape, tokens: number, threads: number): number {
  return (cpuPrefillMsPerToken(threads) * tokens * tokenCost(shape, tokens)) / tokenCost(MEASURED_SHAPE, MEASURED_TOKENS);
}

/**
 * The context used when none is set, never more than the model allows. On a CPU: the largest power of
 * two from MIN_CONTEXT to 8,192 whose prompt this model's shape prefills within COLD_PREFILL_MS
 * (`cpuPrefillMs`; a model whose shape config.json does not give is costed as the 0.5B): for the 0.5B
 * 2,048 at 2 threads (a 2,048-token prompt in 3.9 s), 1,024 at 1, 4,096 from 6; for a 1.5B 512 at 2
 * threads (a 1,024-token prompt would take 6.5 s). On an accelerator 8,192 (its prefill is not measured here).
 */
export function autoContext(provider: Provider, modelContext: number, threads = 0, shape: PrefillShape = MEASURED_SHAPE): number {
  if (provider !== 'cpu') return Math.min(modelContext, ACCELERATOR_CONTEXT);
  let c = MIN_CONTEXT;
  while (c * 2 <= ACCELERATOR_CONTEXT && cpuPrefillMs(shape, c * 2, threads) <= COLD_PREFILL_MS) c *= 2;
  return Math.min(modelContext, c);
}
