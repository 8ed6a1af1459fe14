// Owns the loaded engine: loads it from the settings, reloads it when a setting that needs it
// changes, and falls back to the bundled model when the configured one cannot be loaded.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { EngineConfig } from '../config';
import { Engine, HastenError, type EngineOptions, type Provider } from '../engine';
import { Emitter, type Event } from './event';
import type { Log } from './service';
import type { LoadedEngine } from './workerEngine';

export type HostState =
  | { kind: 'idle' }
  | { kind: 'loading'; model: string }
  | { kind: 'ready'; model: string; provider: string; draft: string | null; warnings: readonly string[] }
  | { kind: 'error'; message: string };

/** Loads an engine: in this thread (tests) or in a worker (the extension, the benchmark). */
export type EngineLoader = (o: EngineOptions) => Promise<LoadedEngine>;

/** A bundled model listed in models/manifest.json. */
export interface BundledModel {
  name: string;
  role: string;
  params: number;
}

export class EngineHost {
  private current: LoadedEngine | undefined;
  private state: HostState = { kind: 'idle' };
  private generation = 0;
  private readonly changed = new Emitter<HostState>();
  readonly onDidChangeState: Event<HostState> = this.changed.event;

  constructor(
    /** The extension's models/ folder. */
    readonly modelsDir: string,
    private readonly log: Log,
    private readonly loader: EngineLoader = (o) => Engine.load(o),
  ) {}

  get engine(): LoadedEngine | undefined {
    return this.current;
  }

  get status(): HostState {
    return this.state;
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
      .map(([name, m]) => ({ name, role: m.role ?? (name.includes('draft') ? 'draft' : 'target'), params: m.params ?? 0 }))
      .sort((a, b) => Number(a.role !== 'target') - Number(b.role !== 'target') || b.params - a.params);
  }

  /** The folder a `hasten.model` value names: '' is the bundled default, a bundled name, or a path (~ expanded; relative to `base`). */
  resolveModel(value: string, base?: string): string {
    if (value === '') return this.bundledDefault();
    if (/^hasten-[\w-]+$/.test(value) && fs.existsSync(path.join(this.modelsDir, value))) return path.join(this.modelsDir, value);
    const expanded = value.startsWith('~') ? path.join(os.homedir(), value.slice(1)) : value;
    return path.resolve(base ?? process.cwd(), expanded);
  }

  /** Loads the engine for `cfg`; a newer call supersedes an older one still loading. */
  async load(cfg: EngineConfig, base?: string): Promise<void> {
    const gen = ++this.generation;
    const modelDir = this.resolveModel(cfg.model, base);
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
        engine = await this.open(bundled, { ...cfg, draftModel: '' }, warnings);
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
    this.setState({ kind: 'ready', model: engine.target.folder.name, provider: engine.target.provider, draft: engine.draft?.folder.name ?? null, warnings });
    await old?.dispose();
  }

  private async open(modelDir: string, cfg: EngineConfig, warnings: string[], base?: string): Promise<LoadedEngine> {
    const draftDir = cfg.draftModel === '' ? undefined : cfg.draftModel === 'none' ? null : this.resolveModel(cfg.draftModel, base);
    return this.loader({
      modelDir,
      ...(draftDir !== undefined ? { draftDir } : {}),
      runtime: { provider: cfg.executionProvider as Provider, threads: cfg.threads, shared: true },
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

  private failed(gen: number, err: unknown): void {
    if (gen !== this.generation) return;
    const message = describe(err);
    this.log.error(`Could not load a model: ${message}`);
    this.setState({ kind: 'error', message });
  }

  private setState(s: HostState): void {
    this.state = s;
    this.changed.fire(s);
  }

  private manifest(): { defaults?: { target?: string }; models?: Record<string, { kind?: string; role?: string; params?: number }> } {
    try {
      return JSON.parse(fs.readFileSync(path.join(this.modelsDir, 'manifest.json'), 'utf8'));
    } catch {
      return {};
    }
  }

  async dispose(): Promise<void> {
    this.generation++;
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
