// Typed view of the `hasten.*` settings, grouped by what a change invalidates:
//   engine      reload the ONNX sessions (model, draft model, execution provider, threads)
//   decode      read per request; no reload (strategy, token budget, drafter shape)
//   completion  read per request; no reload (enable, multi-line policy, debounce, windows)
//   context     resize the extra-context ring (chunk sizes)
import { STRATEGY_IDS, PROVIDERS, type DecodeSettings, type Provider, type Strategy } from './engine';

export const MULTILINE_MODES = ['auto', 'always', 'never'] as const;
export type MultilineMode = (typeof MULTILINE_MODES)[number];

export interface EngineConfig {
  /** '' = the bundled default; a bundled model's name (hasten-*) or a folder on disk. */
  readonly model: string;
  /** '' = the target's default draft from the manifest; 'none' = no draft model; or a folder. */
  readonly draftModel: string;
  readonly executionProvider: Provider;
  /** Intra-op threads per session; 0 lets ONNX Runtime choose. */
  readonly threads: number;
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
  /** Early exit (CALM): confidence at which a token leaves before the last layer; 1 never exits early. */
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
}

export interface ContextConfig {
  /** Chunks kept in the extra-context ring. */
  readonly ringChunks: number;
  readonly chunkLines: number;
  /** Characters of extra context put in front of the file's prefix. */
  readonly extraChars: number;
  /** Largest document (in characters) fed to the workspace-retrieval index. */
  readonly retrievalMaxFileChars: number;
}

export interface HastenConfig {
  /** UI only: whether completions are offered. */
  readonly enable: boolean;
  readonly engine: EngineConfig;
  readonly decode: DecodeConfig;
  readonly completion: CompletionConfig;
  readonly context: ContextConfig;
}

/** The subset of vscode.WorkspaceConfiguration we read, so this file stays testable without VS Code. */
export interface SettingsReader {
  get<T>(key: string, defaultValue: T): T;
}

export const CONFIG_SECTION = 'hasten';

/** Setting keys (under `hasten.`) whose change needs the engine reloaded. */
export const ENGINE_KEYS = ['model', 'draftModel', 'executionProvider', 'threads'] as const;
/** Setting keys that resize the extra-context ring. */
export const CONTEXT_KEYS = ['context.ringChunks', 'context.chunkLines'] as const;

function int(settings: SettingsReader, key: string, fallback: number, min: number, max: number): number {
  const v = settings.get<number>(key, fallback);
  return Number.isFinite(v) ? Math.min(max, Math.max(min, Math.round(v))) : fallback;
}

function num(settings: SettingsReader, key: string, fallback: number, min: number, max: number): number {
  const v = settings.get<number>(key, fallback);
  return typeof v === 'number' && Number.isFinite(v) ? Math.min(max, Math.max(min, v)) : fallback;
}

function oneOf<T extends string>(settings: SettingsReader, key: string, values: readonly T[], fallback: T): T {
  const v = settings.get<string>(key, fallback);
  return (values as readonly string[]).includes(v) ? (v as T) : fallback;
}

/** Reads `hasten.*` settings with the same defaults as package.json, clamping out-of-range numbers. */
export function readConfig(settings: SettingsReader): HastenConfig {
  const enable = settings.get<boolean>('enable', true);
  return {
    enable,
    engine: {
      model: settings.get<string>('model', '').trim(),
      draftModel: settings.get<string>('draftModel', '').trim(),
      executionProvider: oneOf(settings, 'executionProvider', PROVIDERS, 'cpu'),
      threads: int(settings, 'threads', 0, 0, 64),
    },
    decode: {
      strategy: oneOf(settings, 'strategy', STRATEGY_IDS, 'auto'),
      maxTokens: int(settings, 'maxTokens', 48, 1, 512),
      temperature: num(settings, 'temperature', 0, 0, 2),
      draftLength: int(settings, 'draftLength', 4, 1, 16),
      treeWidth: int(settings, 'tree.width', 3, 1, 8),
      treeDepth: int(settings, 'tree.depth', 6, 1, 16),
      treeMaxNodes: int(settings, 'tree.maxNodes', 24, 1, 128),
      exitThreshold: num(settings, 'exitThreshold', 0.7, 0, 1),
    },
    completion: {
      enable,
      multiline: oneOf(settings, 'multiline', MULTILINE_MODES, 'auto'),
      maxLines: int(settings, 'maxLines', 8, 1, 100),
      debounceMs: int(settings, 'debounceMs', 30, 0, 2000),
      prefetch: settings.get<boolean>('prefetch', true),
      prefixChars: int(settings, 'context.prefixChars', 2000, 100, 100_000),
      suffixChars: int(settings, 'context.suffixChars', 500, 0, 100_000),
    },
    context: {
      ringChunks: int(settings, 'context.ringChunks', 16, 0, 256),
      chunkLines: int(settings, 'context.chunkLines', 32, 4, 256),
      extraChars: int(settings, 'context.extraChars', 1024, 0, 100_000),
      retrievalMaxFileChars: int(settings, 'retrieval.maxFileChars', 200_000, 0, 5_000_000),
    },
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
