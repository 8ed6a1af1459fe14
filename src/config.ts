// Typed view of the `hasten.*` settings, grouped by what a change invalidates:
//   engine      reload the ONNX sessions (model, draft model, execution provider, threads)
//   decode      read per request; no reload (strategy, token budget, drafter shape)
//   completion  read per request; no reload (enable, multi-line policy, debounce, windows)
//   context     resize the extra-context ring (chunk sizes)
import { ONNX_DTYPES, STRATEGY_IDS, PROVIDER_SETTINGS, type CursorLine, type DecodeSettings, type OnnxDtype, type ProviderSetting, type Strategy } from './engine';

export const MULTILINE_MODES = ['auto', 'always', 'never'] as const;
export const CURSOR_LINES = ['middle', 'prefix'] as const satisfies readonly CursorLine[];
export type MultilineMode = (typeof MULTILINE_MODES)[number];

export interface EngineConfig {
  /** '' = the bundled default; a bundled model's name (hasten-*) or a folder on disk. */
  readonly model: string;
  /** '' = the target's default draft from the manifest; 'none' = no draft model; or a folder. */
  readonly draftModel: string;
  /** A provider, or auto (WebGPU on a hardware GPU, else cpu). */
  readonly executionProvider: ProviderSetting;
  /** Intra-op threads per session; 0 lets ONNX Runtime choose. */
  readonly threads: number;
  /** Tokens of context (prompt + completion), at most the model's; 0 = by provider and threads (`autoContext`: 2,048 on a 2-thread CPU, 8,192 on an accelerator). */
  readonly contextTokens: number;
  /** Which export of a folder with several ONNX exports runs (onnx-community dtype suffixes); 'auto' = the engine's preference. */
  readonly onnxDtype: 'auto' | OnnxDtype;
}

export interface DecodeConfig {
  readonly strategy: Strategy;
  readonly maxTokens: number;
  /** 0 = greedy: the lossless strategies then produce exactly what autoregressive decoding does. */
  readonly temperature: number;
  readonly draftLength: number;
  readonly treeWidth: number;
  readonly treeDepth: number;
  readonly treeMaxNodes: number;
  /** Early exit (CALM): confidence at which a token leaves before the last layer (the model's learned exit classifier where it ships one, else softmax top-1 at the layer before the last); 1 never exits early. */
  readonly exitThreshold: number;
}

export interface CompletionConfig {
  readonly enable: boolean;
  readonly multiline: MultilineMode;
  readonly maxLines: number;
  readonly debounceMs: number;
  readonly prefetch: boolean;
  readonly prefixChars: number;
  readonly suffixChars: number;
  /** Where a FIM prompt puts the cursor line's text before the cursor (src/engine/prompt.ts `buildPrompt`). */
  readonly cursorLine: CursorLine;
}

export interface ContextConfig {
  /** Chunks kept in the extra-context ring. */
  readonly ringChunks: number;
  readonly chunkLines: number;
  /** Most characters of extra context sent per request; the engine keeps the chunks that fit its share of the prompt. */
  readonly extraChars: number;
  /** Largest document (in characters) fed to the workspace-retrieval index. */
  readonly retrievalMaxFileChars: number;
}

export interface HubConfig {
  /** '' = HF_ENDPOINT, else the public hub. */
  readonly endpoint: string;
}

export interface HastenConfig {
  /** UI only: whether completions are offered. */
  readonly enable: boolean;
  readonly engine: EngineConfig;
  readonly decode: DecodeConfig;
  readonly completion: CompletionConfig;
  readonly context: ContextConfig;
  readonly hub: HubConfig;
}

/** The subset of vscode.WorkspaceConfiguration we read, so this file stays testable without VS Code. */
export interface SettingsReader {
  get<T>(key: string, defaultValue: T): T;
}

export const CONFIG_SECTION = 'hasten';

/** Setting keys (under `hasten.`) whose change needs the engine reloaded. */
export const ENGINE_KEYS = ['model', 'draftModel', 'executionProvider', 'threads', 'contextTokens', 'onnxDtype'] as const;
/** Setting keys that resize the extra-context ring. */
export const CONTEXT_KEYS = ['context.ringChunks', 'context.chunkLines'] as const;

/** Told about each setting whose value could not be used as it is: names the setting and what is used instead. */
export type ProblemReporter = (problem: string) => void;

/** A value as the user wrote it, short enough for a message. */
function show(v: unknown): string {
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

/** Typed getters over the raw settings: any JSON value can arrive (settings.json is hand-edited), none throws. */
class Reader {
  constructor(private readonly settings: SettingsReader, private readonly report: ProblemReporter) {}

  private raw(key: string, fallback: unknown): unknown {
    return this.settings.get<unknown>(key, fallback);
  }

  private fallBack<T>(key: string, v: unknown, why: string, used: T): T {
    this.report(`hasten.${key}: ${show(v)} ${why}; using ${show(used)}.`);
    return used;
  }

  int(key: string, fallback: number, min: number, max: number): number {
    const v = this.raw(key, fallback);
    if (typeof v !== 'number' || !Number.isFinite(v)) return this.fallBack(key, v, 'is not a number', fallback);
    const r = Math.min(max, Math.max(min, Math.round(v)));
    if (r !== v) return this.fallBack(key, v, Number.isInteger(v) ? `is outside ${min} to ${max}` : 'is not a whole number', r);
    return r;
  }

  num(key: string, fallback: number, min: number, max: number): number {
    const v = this.raw(key, fallback);
    if (typeof v !== 'number' || !Number.isFinite(v)) return this.fallBack(key, v, 'is not a number', fallback);
    const r = Math.min(max, Math.max(min, v));
    return r === v ? r : this.fallBack(key, v, `is outside ${min} to ${max}`, r);
  }

  oneOf<T extends string>(key: string, values: readonly T[], fallback: T): T {
    const v = this.raw(key, fallback);
    return (values as readonly unknown[]).includes(v) ? (v as T) : this.fallBack(key, v, `is not one of ${values.join(', ')}`, fallback);
  }

  bool(key: string, fallback: boolean): boolean {
    const v = this.raw(key, fallback);
    return typeof v === 'boolean' ? v : this.fallBack(key, v, 'is not true or false', fallback);
  }

  text(key: string, fallback: string): string {
    const v = this.raw(key, fallback);
    return typeof v === 'string' ? v.trim() : this.fallBack(key, v, 'is not a string', fallback);
  }
}

/**
 * Reads `hasten.*` settings with the same defaults as package.json. A value of the wrong type falls
 * back to the default and an out-of-range number is clamped; each is told to `report`, naming the setting.
 */
export function readConfig(settings: SettingsReader, report: ProblemReporter = () => {}): HastenConfig {
  const r = new Reader(settings, report);
  const enable = r.bool('enable', true);
  return {
    enable,
    engine: {
      model: r.text('model', ''),
      draftModel: r.text('draftModel', ''),
      executionProvider: r.oneOf('executionProvider', PROVIDER_SETTINGS, 'auto'),
      threads: r.int('threads', 0, 0, 64),
      contextTokens: r.int('contextTokens', 0, 0, 32768),
      onnxDtype: r.oneOf('onnxDtype', ['auto', ...ONNX_DTYPES] as const, 'auto'),
    },
    decode: {
      strategy: r.oneOf('strategy', STRATEGY_IDS, 'auto'),
      maxTokens: r.int('maxTokens', 48, 1, 512),
      temperature: r.num('temperature', 0, 0, 2),
      draftLength: r.int('draftLength', 4, 1, 16),
      treeWidth: r.int('tree.width', 3, 1, 8),
      treeDepth: r.int('tree.depth', 6, 1, 16),
      treeMaxNodes: r.int('tree.maxNodes', 24, 1, 128),
      exitThreshold: r.num('exitThreshold', 0.98, 0, 1),
    },
    completion: {
      enable,
      multiline: r.oneOf('multiline', MULTILINE_MODES, 'auto'),
      maxLines: r.int('maxLines', 8, 1, 100),
      debounceMs: r.int('debounceMs', 30, 0, 2000),
      prefetch: r.bool('prefetch', true),
      prefixChars: r.int('context.prefixChars', 2000, 100, 100_000),
      suffixChars: r.int('context.suffixChars', 500, 0, 100_000),
      cursorLine: r.oneOf('context.cursorLine', CURSOR_LINES, 'middle'),
    },
    context: {
      ringChunks: r.int('context.ringChunks', 16, 0, 256),
      chunkLines: r.int('context.chunkLines', 32, 4, 256),
      extraChars: r.int('context.extraChars', 4096, 0, 100_000),
      retrievalMaxFileChars: r.int('retrieval.maxFileChars', 200_000, 0, 5_000_000),
    },
    hub: { endpoint: r.text('hub.endpoint', '') },
  };
}

/** The engine's per-request decode settings from the user's. */
export function decodeSettings(d: DecodeConfig): Partial<DecodeSettings> {
  return { draftLength: d.draftLength, treeWidths: treeWidths(d.treeWidth, d.treeDepth), maxNodes: d.treeMaxNodes, exitThreshold: d.exitThreshold };
}

/** Draft widths per tree depth from the two numbers users tune: [w, w-1, w-1, 1, 1, ...] (3, 6 gives the engine's default). */
export function treeWidths(width: number, depth: number): number[] {
  return Array.from({ length: depth }, (_, i) => (i === 0 ? width : i <= 2 ? Math.max(1, width - 1) : 1));
}
