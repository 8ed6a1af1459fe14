// Owns the loaded engine: loads it from the settings, reloads it when a setting that needs it
// changes, falls back to the bundled model when the configured one cannot be loaded, and restarts
// the engine process with backoff when it ends unasked (until it crashes in a loop).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { EngineConfig } from '../config';
import { Engine, HastenError, type EngineOptions, type ProviderSetting } from '../engine';
import { Emitter, type Disposable, type Event } from './event';
import { watchModelFolders } from './modelWatcher';
import type { Log } from './service';
import { describeExit, type EngineExit, type LoadedEngine } from './processEngine';

export type HostState =
  | { kind: 'idle' }
  | { kind: 'loading'; model: string }
  | { kind: 'ready'; model: string; provider: string; providerReason?: string; draft: string | null; warnings: readonly string[]; context?: number }
  | { kind: 'restarting'; model: string; reason: string }
  | { kind: 'error'; message: string };

/** When an engine process that ended is started again, and when Hasten gives up. */
export interface RestartPolicy {
  /** Delay before the 1st, 2nd, ... restart within the crash-loop window (the last repeats). */
  backoffMs: readonly number[];
  /** This many ends within `windowMs` is a crash loop: restarts stop until the user loads a model. */
  crashLoop: { ends: number; windowMs: number };
}

/** How long a completion waits for an engine that is loading or restarting (a load times out after 120 s). */
export const WAIT_FOR_ENGINE_MS = 130_000;

export const DEFAULT_RESTART: RestartPolicy = { backoffMs: [250, 1000, 4000], crashLoop: { ends: 3, windowMs: 60_000 } };

export interface HostOptions {
  restart?: RestartPolicy;
  /** Reload after the configured model's files change on disk and stay quiet this long; null: never watch. */
  reloadQuietMs?: number | null;
}

/** Loads an engine: in this thread (tests) or in its own process (the extension, the benchmark). */
export type EngineLoader = (o: EngineOptions) => Promise<LoadedEngine>;

/** A bundled model listed in models/manifest.json. */
export interface BundledModel {
  name: string;
  role: string;
  params: number;
  /** For a draft model: the targets whose tokenizer it shares (the manifest's draftFor). */
  draftFor: string[];
}

export class EngineHost {
  private current: LoadedEngine | undefined;
  private state: HostState = { kind: 'idle' };
  private generation = 0;
  /** What the last load was asked for, so that a restart loads the same. */
  private last: { cfg: EngineConfig; base: string | undefined } | undefined;
  /** When the engine process ended unasked, within the crash-loop window. */
  private ends: number[] = [];
  private restartTimer: ReturnType<typeof setTimeout> | undefined;
  private watcher: Disposable | undefined;
  private readonly restart: RestartPolicy;
  private readonly reloadQuietMs: number | null;
  private readonly changed = new Emitter<HostState>();
  /** Wakes whenReady's waiters: each state change, and dispose. */
  private readonly wake = new Emitter<void>();
  private disposed = false;
  readonly onDidChangeState: Event<HostState> = this.changed.event;

  constructor(
    /** The extension's models/ folder. */
    readonly modelsDir: string,
    private readonly log: Log,
    private readonly loader: EngineLoader = (o) => Engine.load(o),
    options: HostOptions = {},
  ) {
    this.restart = options.restart ?? DEFAULT_RESTART;
    this.reloadQuietMs = options.reloadQuietMs === undefined ? 1000 : options.reloadQuietMs;
  }

  get engine(): LoadedEngine | undefined {
    return this.current;
  }

  get status(): HostState {
    return this.state;
  }

  /**
   * The engine to decode with: the current one, or, while a load or restart is under way, the one it
   * brings once ready. Undefined when there is none to wait for (idle, error, a crash loop), when
   * `signal` aborts, or after `timeoutMs`. `not` is an engine that just ended: never handed out again.
   */
  async whenReady(signal: AbortSignal, not?: object, timeoutMs = WAIT_FOR_ENGINE_MS): Promise<LoadedEngine | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (signal.aborted || this.disposed) return undefined;
      const e = this.current;
      if (e && e !== not && this.state.kind === 'ready') return e;
      // Waiting makes sense only while an engine is on its way (or the one that ended is not yet reported).
      if (this.state.kind !== 'loading' && this.state.kind !== 'restarting' && !(this.state.kind === 'ready' && e === not)) return undefined;
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          sub.dispose();
          signal.removeEventListener('abort', done);
          resolve();
        };
        const timer = setTimeout(done, left);
        const sub = this.wake.event(done);
        signal.addEventListener('abort', done, { once: true });
      });
    }
  }

  /** The manifest's default target folder. */
  bundledDefault(): string {
    return path.join(this.modelsDir, this.manifest().defaults?.target ?? 'hasten-target');
  }

  /** Causal models the extension ships, targets first. */
  bundledModels(): BundledModel[] {
    const models = this.manifest().models ?? {};
    return Object.entries(models)
      .filter(([, m]) => m.kind === 'causal')
      .map(([name, m]) => ({ name, role: m.role ?? (name.includes('draft') ? 'draft' : 'target'), params: m.params ?? 0, draftFor: m.draftFor ?? [] }))
      .sort((a, b) => Number(a.role !== 'target') - Number(b.role !== 'target') || b.params - a.params);
  }

  /** The folder a `hasten.model` value names: '' is the bundled default, a bundled name, or a path (~ expanded; relative to `base`). */
  resolveModel(value: string, base?: string): string {
    if (value === '') return this.bundledDefault();
    if (/^hasten-[\w-]+$/.test(value) && fs.existsSync(path.join(this.modelsDir, value))) return path.join(this.modelsDir, value);
    const expanded = value.startsWith('~') ? path.join(os.homedir(), value.slice(1)) : value;
    return path.resolve(base ?? process.cwd(), expanded);
  }

  /** Loads the engine for `cfg`; a newer call supersedes an older one still loading. Forgets earlier crashes. */
  load(cfg: EngineConfig, base?: string): Promise<void> {
    this.ends = [];
    return this.start(cfg, base);
  }

  private async start(cfg: EngineConfig, base: string | undefined): Promise<void> {
    clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    this.last = { cfg, base };
    const gen = ++this.generation;
    const modelDir = this.resolveModel(cfg.model, base);
    this.watch(modelDir, cfg, base);
    const warnings: string[] = [];
    this.setState({ kind: 'loading', model: path.basename(modelDir) });
    let engine: LoadedEngine;
    try {
      engine = await this.open(modelDir, cfg, warnings, base);
    } catch (err) {
      const bundled = this.bundledDefault();
      if (path.resolve(modelDir) === path.resolve(bundled)) return this.failed(gen, err);
      const message = `Could not load the model ${modelDir}: ${describe(err)} Completions use the bundled model ${path.basename(bundled)} instead.`;
      this.log.error(message);
      warnings.push(message);
      try {
        engine = await this.open(bundled, { ...cfg, draftModel: '', onnxDtype: 'auto' }, warnings);
      } catch (err2) {
        return this.failed(gen, err2);
      }
    }
    if (gen !== this.generation) {
      await engine.dispose();
      return;
    }
    const old = this.current;
    this.current = engine;
    engine.onDidExit?.((e) => this.ended(engine, e));
    // A device that fails mid-decode leaves the model on the cpu: the status bar says so, and why.
    engine.onDidChangeProvider?.((c) => {
      if (engine === this.current && this.state.kind === 'ready') this.setState({ ...this.state, provider: c.provider, providerReason: c.providerReason });
    });
    const context = engine.target.contextLength;
    this.setState({ kind: 'ready', model: engine.target.folder.name, provider: engine.target.provider, ...(engine.providerReason ? { providerReason: engine.providerReason } : {}), draft: engine.draft?.folder.name ?? null, warnings, ...(context ? { context } : {}) });
    await old?.dispose();
  }

  private async open(modelDir: string, cfg: EngineConfig, warnings: string[], base?: string): Promise<LoadedEngine> {
    const draftDir = cfg.draftModel === '' ? undefined : cfg.draftModel === 'none' ? null : this.resolveModel(cfg.draftModel, base);
    return this.loader({
      modelDir,
      ...(draftDir !== undefined ? { draftDir } : {}),
      runtime: { provider: cfg.executionProvider as ProviderSetting, threads: cfg.threads, shared: true, contextTokens: cfg.contextTokens },
      ...(cfg.onnxDtype !== 'auto' ? { onnxDtype: cfg.onnxDtype } : {}),
      log: (level, message) => {
        this.log[level](message);
        if (level === 'warn') warnings.push(message);
      },
    });
  }

  /**
   * Checks that a folder holds a loadable causal model by loading it (without a draft) and
   * disposing of it; returns the error to show, or undefined when it is fine.
   */
  async validate(dir: string): Promise<HastenError | Error | undefined> {
    try {
      const e = await this.loader({ modelDir: dir, draftDir: null, runtime: { provider: 'cpu', threads: 1, shared: true } });
      await e.dispose();
      return undefined;
    } catch (err) {
      return err instanceof Error ? err : new Error(String(err));
    }
  }

  /**
   * Watches the configured model folders (not the fallback's): a rebuild, a deletion or a half-written
   * file reloads the engine once the writes settle, and a load that fails is reported like any other.
   */
  private watch(modelDir: string, cfg: EngineConfig, base: string | undefined): void {
    this.watcher?.dispose();
    this.watcher = undefined;
    if (this.reloadQuietMs === null) return;
    const draft = cfg.draftModel === '' || cfg.draftModel === 'none' ? [] : [this.resolveModel(cfg.draftModel, base)];
    this.watcher = watchModelFolders([modelDir, ...draft], (dir) => {
      this.log.info(`${dir} changed on disk: reloading the model.`);
      void this.start(cfg, base);
    }, this.reloadQuietMs);
  }

  /** The engine process ended unasked: the next one starts after a backoff, unless this is a crash loop. */
  private ended(engine: LoadedEngine, exit: EngineExit): void {
    if (engine !== this.current || !this.last) return;
    this.current = undefined;
    const now = Date.now();
    const { backoffMs, crashLoop } = this.restart;
    this.ends = [...this.ends.filter((t) => now - t < crashLoop.windowMs), now];
    const output = exit.stderr.trim().split('\n').at(-1);
    const why = `The engine process ${describeExit(exit)}${output ? ` (its last output: ${output})` : ''}.`;
    const n = this.ends.length;
    if (n >= crashLoop.ends) {
      const message =
        `${why} It ended ${n} times within ${Math.round(crashLoop.windowMs / 1000)} s, so Hasten stopped restarting it. ` +
        'Check hasten.model and hasten.executionProvider (Hasten: Show Log has each end), then run Hasten: Select Model or reload the window to start it again.';
      this.log.error(message);
      this.setState({ kind: 'error', message });
      return;
    }
    const delay = backoffMs[Math.min(n - 1, backoffMs.length - 1)] ?? 0;
    this.log.warn(`${why} Restarting it in ${delay} ms (end ${n} of ${crashLoop.ends} within ${Math.round(crashLoop.windowMs / 1000)} s before restarts stop).`);
    this.setState({ kind: 'restarting', model: engine.target.folder.name, reason: why });
    const { cfg, base } = this.last;
    this.restartTimer = setTimeout(() => void this.start(cfg, base), delay);
  }

  private failed(gen: number, err: unknown): void {
    if (gen !== this.generation) return;
    const message = describe(err);
    this.log.error(`Could not load a model: ${message}`);
    this.setState({ kind: 'error', message });
  }

  private setState(s: HostState): void {
    this.state = s;
    this.changed.fire(s);
    this.wake.fire();
  }

  private manifest(): { defaults?: { target?: string }; models?: Record<string, { kind?: string; role?: string; params?: number; draftFor?: string[] }> } {
    try {
      return JSON.parse(fs.readFileSync(path.join(this.modelsDir, 'manifest.json'), 'utf8'));
    } catch {
      return {};
    }
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    this.wake.fire();
    this.wake.dispose();
    this.generation++;
    clearTimeout(this.restartTimer);
    this.watcher?.dispose();
    this.changed.dispose();
    const e = this.current;
    this.current = undefined;
    await e?.dispose();
  }
}

/** An error's message; a HastenError already names its cause and fix. */
export function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
