// ONNX Runtime sessions: execution providers with a clear fallback to CPU, and thread settings.
import * as ort from 'onnxruntime-node';
import fs from 'node:fs';
import { HastenError } from '../errors';

export const PROVIDERS = ['cpu', 'cuda', 'dml', 'coreml', 'webgpu'] as const;
export type Provider = (typeof PROVIDERS)[number];

export interface RuntimeOptions {
  provider: Provider;
  /** Intra-op threads per session; 0 lets ONNX Runtime choose. */
  threads: number;
  /**
   * More than one session will run in this process (target + draft). Spinning threads of two
   * sessions fight over the cores (measured: 22 -> 42 ms), so spinning is turned off.
   */
  shared: boolean;
  /** Told when a requested provider is unavailable and CPU is used instead. */
  onFallback?: (message: string) => void;
  /**
   * Tokens the KV cache may hold (prompt + completion), at most what the model allows; 0 or absent picks
   * by provider (`autoContext`). The prompt budget is this minus the completion's.
   */
  contextTokens?: number;
}

/**
 * The context used when none is set: on a CPU a cold prefill costs seconds per thousand tokens for a
 * 0.5B model (7.3 s for 1,000 at int4 on the 2-core machine these figures come from), so 2,048; on an
 * accelerator 8,192. Never more than the model allows.
 */
export function autoContext(provider: Provider, modelContext: number): number {
  return Math.min(modelContext, provider === 'cpu' ? 2048 : 8192);
}

/** The context a model runs at: `contextTokens` when set (capped at the model's), else `autoContext`. */
export function contextFor(o: Pick<RuntimeOptions, 'provider' | 'contextTokens'>, modelContext: number): number {
  const set = o.contextTokens ?? 0;
  return set > 0 ? Math.min(set, modelContext) : autoContext(o.provider, modelContext);
}

export const DEFAULT_RUNTIME: RuntimeOptions = { provider: 'cpu', threads: 0, shared: true };

/** Providers this build of onnxruntime-node can use on this machine. */
export function availableProviders(): Provider[] {
  const names = new Set<string>(ort.listSupportedBackends().map((b) => b.name));
  // The Windows build ships DirectML, the macOS build CoreML; neither is listed by name everywhere.
  if (process.platform === 'win32') names.add('dml');
  if (process.platform === 'darwin') names.add('coreml');
  return PROVIDERS.filter((p) => names.has(p));
}

function sessionOptions(provider: Provider, o: RuntimeOptions): ort.InferenceSession.SessionOptions {
  const opts: ort.InferenceSession.SessionOptions = {
    executionProviders: [provider],
    graphOptimizationLevel: 'all',
    // A decode loop grows the past every step; memory patterns assume fixed shapes (measured 3.0 -> 2.5 ms).
    enableMemPattern: false,
    // The CPU arena keeps its high-water mark for the life of the session: the engine process grew 5-19%
    // over 1,000 completions with it and shrank without it, at no measurable cost (npm run bench:provider
    // -- --no-cpu-arena, and bench/arena.ts: decode-time ratio 0.994-1.027, identical texts).
    enableCpuMemArena: false,
    logSeverityLevel: 3,
  };
  if (o.threads > 0) opts.intraOpNumThreads = o.threads;
  if (o.shared) opts.extra = { session: { intra_op: { allow_spinning: '0' } } };
  return opts;
}

/** A created session and the provider it really runs on. */
export interface OpenedSession {
  session: ort.InferenceSession;
  provider: Provider;
}

/**
 * Opens an ONNX file. A provider that is unavailable, or fails to initialise, falls back to CPU
 * with a message (never a crash); a missing or corrupt file is a HastenError naming the file.
 */
export async function openSession(file: string, o: RuntimeOptions): Promise<OpenedSession> {
  if (!fs.existsSync(file)) {
    throw new HastenError('model-missing', `${file} is missing.`, 'Check the model folder (hasten.model setting) or re-export it.');
  }
  let provider = o.provider;
  if (provider !== 'cpu' && !availableProviders().includes(provider)) {
    o.onFallback?.(`Execution provider "${provider}" is not available in this onnxruntime-node build on ${process.platform}/${process.arch}; using cpu. ` +
      `Available: ${availableProviders().join(', ')}. Change hasten.executionProvider to silence this.`);
    provider = 'cpu';
  }
  try {
    return { session: await ort.InferenceSession.create(file, sessionOptions(provider, o)), provider };
  } catch (err) {
    if (provider !== 'cpu') {
      o.onFallback?.(`Execution provider "${provider}" failed to start (${firstLine(err)}); using cpu.`);
      return openSession(file, { ...o, provider: 'cpu' });
    }
    throw new HastenError('model-corrupt', `${file} could not be loaded by ONNX Runtime (${firstLine(err)}).`,
      'The file may be truncated or not an ONNX model: re-export it (bash models/build.sh --from export) or pick another model folder.');
  }
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0]!.slice(0, 300);
}
