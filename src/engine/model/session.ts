// ONNX Runtime sessions: execution providers with a clear fallback to CPU, and thread settings.
import * as ort from 'onnxruntime-node';
import fs from 'node:fs';
import { HastenError } from '../errors';
import { chooseProvider, hostProbeEnv, type ProviderChoice } from './adapter';
import { autoContext, prefillShape } from './context';
import type { ReadBack } from './device';
import { onnxOutputNames } from './outputNames';

export { autoContext };

export const PROVIDERS = ['cpu', 'cuda', 'dml', 'coreml', 'webgpu'] as const;
export type Provider = (typeof PROVIDERS)[number];
/** The setting's values: a provider, or `auto` (WebGPU on a hardware GPU, else CPU: `chooseProvider`). */
export const PROVIDER_SETTINGS = ['auto', ...PROVIDERS] as const;
export type ProviderSetting = (typeof PROVIDER_SETTINGS)[number];

export interface RuntimeOptions {
  /** `auto` is resolved once per process by `resolveProvider`. */
  provider: ProviderSetting;
  /** Intra-op threads per session; 0 lets ONNX Runtime choose. */
  threads: number;
  /**
   * More than one session will run in this process (target + draft). Spinning threads of two
   * sessions fight over the cores (measured: 22 -> 42 ms), so spinning is turned off.
   */
  shared: boolean;
  /** Bytes copied device -> host by this runtime's device sessions (the engine's counter, read per completion). */
  readBack?: ReadBack;
  /** Told when a requested provider is unavailable and CPU is used instead. */
  onFallback?: (message: string) => void;
  /** Told what a device needed worked around at load (e.g. long blocks cut: DeviceKv.checkLongBlocks). */
  onNote?: (message: string) => void;
  /**
   * Tokens the KV cache may hold (prompt + completion), at most what the model allows; 0 or absent picks
   * by provider (`autoContext`). The prompt budget is this minus the completion's.
   */
  contextTokens?: number;
  /**
   * What a builder-made model computes in on a device (WebGPU): 'fp16' (default) runs the build's fp16
   * graphs (fp16 K/V and activations; norms and logits fp32) when it has them, 'fp32' its fp32 fast graphs.
   * The CPU always runs fp32.
   */
  deviceFloat?: 'fp16' | 'fp32';
}

/**
 * The context a model runs at: `contextTokens` when set (capped at the model's), else `autoContext` for
 * the model's shape as its config.json (`raw`) gives it (src/engine/model/context.ts).
 */
export function contextFor(o: Pick<RuntimeOptions, 'provider' | 'contextTokens'> & { threads?: number }, modelContext: number, raw: Record<string, unknown> = {}): number {
  const set = o.contextTokens ?? 0;
  return set > 0 ? Math.min(set, modelContext) : autoContext(resolveProvider(o.provider).provider, modelContext, o.threads ?? 0, prefillShape(raw));
}

let autoChoice: ProviderChoice | null = null;
/** A setting's provider and why: `auto` probes the machine once per process (`chooseProvider`). */
export function resolveProvider(p: ProviderSetting): ProviderChoice {
  if (p !== 'auto') return { provider: p, reason: 'set by hasten.executionProvider' };
  autoChoice ??= chooseProvider(hostProbeEnv(availableProviders().includes('webgpu')));
  return autoChoice;
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

function sessionOptions(provider: Provider, o: RuntimeOptions, outputs?: readonly string[]): ort.InferenceSession.SessionOptions {
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
  // WebGPU: the KV outputs stay on the device and are fed back as the next run's past; only logits and
  // hidden states (what the decoder reads) come back to the host.
  if (provider === 'webgpu' && outputs) {
    const kv = outputs.filter(isKvOutput);
    if (kv.length) opts.preferredOutputLocation = Object.fromEntries(outputs.map((n) => [n, isKvOutput(n) ? 'gpu-buffer' : 'cpu']));
  }
  return opts;
}

/** The K/V outputs of every causal graph Hasten runs: present.N.key/value (standard, fast, tree) and present_key/value (layered blocks). */
export function isKvOutput(name: string): boolean {
  return /^present(\.\d+\.(key|value)|_key|_value)$/.test(name);
}


/** A created session and the provider it really runs on. */
export interface OpenedSession {
  session: ort.InferenceSession;
  provider: Provider;
  /** Its K/V outputs stay on the device (`gpu-buffer`): feed them back, release them when dropped. */
  device: boolean;
}

/**
 * Opens an ONNX file. A provider that is unavailable, or fails to initialise, falls back to CPU
 * with a message (never a crash); a missing or corrupt file is a HastenError naming the file.
 */
export async function openSession(file: string, o: RuntimeOptions): Promise<OpenedSession> {
  if (!fs.existsSync(file)) {
    throw new HastenError('model-missing', `${file} is missing.`, 'Check the model folder (hasten.model setting) or re-export it.');
  }
  let provider = resolveProvider(o.provider).provider;
  if (provider !== 'cpu' && !availableProviders().includes(provider)) {
    o.onFallback?.(`Execution provider "${provider}" is not available in this onnxruntime-node build on ${process.platform}/${process.arch}; using cpu. ` +
      `Available: ${availableProviders().join(', ')}. Change hasten.executionProvider to silence this.`);
    provider = 'cpu';
  }
  try {
    const outputs = provider === 'webgpu' ? onnxOutputNames(file) : undefined;
    const session = await ort.InferenceSession.create(file, sessionOptions(provider, o, outputs));
    return { session, provider, device: provider === 'webgpu' && outputs!.some(isKvOutput) };
  } catch (err) {
    if (provider !== 'cpu') {
      o.onFallback?.(`Execution provider "${provider}" failed to start (${firstLine(err)}); using cpu. ` +
        (provider === 'webgpu' ? 'WebGPU needs a GPU with a Vulkan (Linux), D3D12 (Windows) or Metal (macOS) driver; on Linux install libvulkan1 and the GPU\'s Vulkan driver. ' : '') +
        'Set hasten.executionProvider to cpu to silence this.');
      return openSession(file, { ...o, provider: 'cpu' });
    }
    throw new HastenError('model-corrupt', `${file} could not be loaded by ONNX Runtime (${firstLine(err)}).`,
      'The file may be truncated or not an ONNX model: re-export it (bash models/build.sh --from export) or pick another model folder.');
  }
}

export function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0]!.slice(0, 300);
}
