// The completion pipeline without VS Code: cache lookup (typed-through included), debounce, one
// decode at a time with the newest request winning, streaming through a growing cache entry,
// prefetch after a suggestion completes, and a trace record per finished decode.
import { GREEDY, isAbortError, type CompletionRequest, type CompletionUpdate, type PromptContext } from '../engine';
import { decodeSettings, type CompletionConfig, type DecodeConfig } from '../config';
import { CompletionCache, Entry } from './cache';
import { Emitter, type Event } from './event';
import type { TraceHistory } from './history';
import { shape, shouldStop, type CursorContext } from './policy';
import { isEngineExit } from './processEngine';
import { DecodeScheduler, type Job } from './scheduler';

/** The part of the engine the pipeline uses. */
export interface CompletionEngine {
  /** `stopContext` carries the stop rule to an engine in another thread (stopText cannot travel). */
  complete(req: CompletionRequest & { stopContext?: CursorContext }): AsyncIterable<CompletionUpdate>;
}

/** LogOutputChannel's levels, without the vscode module. */
export interface Log {
  trace(message: string): void;
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** One request from the editor: the windows around the cursor and where they came from. */
export interface ProvideRequest {
  uri: string;
  languageId: string;
  version: number;
  /** Cursor offset in the document (for logs and tests). */
  offset: number;
  /** hasten.context.prefixChars characters before the cursor (fewer at the start of a file). */
  prefix: string;
  suffix: string;
  cursor: CursorContext;
  /** Extra context (the ring's chunks, newest first) and the file's path: the engine puts them in the prompt in the model's format. */
  context?: PromptContext;
}

export interface ServiceDeps {
  engine(): CompletionEngine | undefined;
  /**
   * The engine once one that is loading or restarting is ready (undefined: none is coming, or `signal`
   * aborted); `not` is one whose process just ended. Without it a completion asked for meanwhile gets nothing.
   */
  whenEngine?(signal: AbortSignal, not?: CompletionEngine): Promise<CompletionEngine | undefined>;
  decode(): DecodeConfig;
  completion(): CompletionConfig;
  log: Log;
  history: TraceHistory;
}

/** Resolves true after `ms`, or false as soon as `signal` aborts. */
export function delay(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  if (ms <= 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
}

export class CompletionService {
  cache: CompletionCache;
  readonly scheduler = new DecodeScheduler();
  private readonly extended = new Emitter<ProvideRequest>();
  /** Fires when a suggestion already served grows: the editor should ask again (streaming). */
  readonly onDidExtend: Event<ProvideRequest> = this.extended.event;
  private served: { req: ProvideRequest; entry: Entry } | undefined;
  private suspended = 0;

  constructor(private readonly deps: ServiceDeps) {
    this.cache = new CompletionCache(256, deps.completion().prefixChars);
  }

  /** Drops cached suggestions (after a model change, or when the prefix window changes size). */
  resetCache(): void {
    this.cache = new CompletionCache(256, this.deps.completion().prefixChars);
    this.served = undefined;
  }

  /**
   * The suggestion for `req`, or undefined when there is none or the request went stale
   * (`signal` aborted, or `isCurrent` says the document moved on).
   */
  async provide(req: ProvideRequest, signal: AbortSignal, isCurrent: () => boolean): Promise<string | undefined> {
    if (this.suspended > 0) return undefined;
    const hit = this.cache.lookup(req.prefix, req.suffix);
    let entry = hit?.entry;
    let job: Job | undefined;
    if (!entry) {
      if (!(await delay(this.deps.completion().debounceMs, signal)) || !isCurrent()) return undefined;
      const key = this.cache.key(req.prefix, req.suffix);
      entry = this.cache.get(key);
      if (!entry) {
        entry = new Entry();
        this.cache.set(key, entry);
        job = this.startDecode(req, key, entry, false);
      }
    }
    // Cancelled while waiting for its first line: the decode this call started stops within one step.
    const onAbort = () => job?.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    let text: string | undefined;
    try {
      text = await this.waitForText(entry, hit?.typed ?? 0, signal);
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
    if (text === undefined || signal.aborted || !isCurrent()) return undefined;
    this.served = { req, entry };
    if (text === '') return undefined;
    this.deps.history.served(entry.id);
    return text;
  }

  private async waitForText(entry: Entry, typed: number, signal: AbortSignal): Promise<string | undefined> {
    const stop = aborted(signal);
    for (;;) {
      if (entry.text.length > typed) return entry.text.slice(typed);
      if (entry.done) return '';
      await Promise.race([entry.changed(), stop]);
      if (signal.aborted) return undefined;
    }
  }

  private startDecode(req: ProvideRequest, key: string, entry: Entry, prefetch: boolean): Job {
    const queued = performance.now();
    // Ids come from the history, which outlives engines: the engine's own restart with every process.
    const id = (entry.id = this.deps.history.newId());
    const job: Job = this.scheduler.start(async (signal) => {
      let first: number | null = null;
      let last: CompletionUpdate | undefined;
      // A completion asked for while the engine loads or restarts waits for it; one whose engine process
      // ends before it showed anything starts again on the next process (once).
      let ended: CompletionEngine | undefined;
      for (;;) {
        const engine = (ended ? undefined : this.deps.engine()) ?? (await this.deps.whenEngine?.(signal, ended));
        if (!engine || signal.aborted) return;
        try {
          for await (const update of engine.complete(this.request(req, signal))) {
            const u = { ...update, trace: { ...update.trace, id } };
            last = u;
            if (!u.done) this.deps.history.update({ trace: u.trace, uri: req.uri, languageId: req.languageId, prefetch });
            const shown = shape(u.text, req.cursor, u.done);
            if (shown === entry.text && !u.done) continue;
            if (shown && first === null) first = performance.now() - queued;
            entry.set(shown, u.done);
            if (this.served?.entry === entry) this.extended.fire(this.served.req);
          }
          break;
        } catch (err) {
          // An engine process that ended is reported once by EngineHost, which restarts it; its decode ends quietly.
          if (isEngineExit(err)) {
            this.deps.log.trace(`decode ended with the engine process at ${req.uri}@${req.offset}`);
            if (!ended && entry.text === '' && !signal.aborted) {
              ended = engine;
              last = undefined;
              continue;
            }
          } else if (!isAbortError(err)) this.deps.log.error(`Completion failed at ${req.uri}:${req.offset}: ${err instanceof Error ? err.message : String(err)}`);
          else this.deps.log.trace(`decode aborted at ${req.uri}@${req.offset}`);
          return;
        }
      }
      if (!last) return;
      this.finish(req, entry, last, first, performance.now() - queued, prefetch);
      if (!prefetch && entry.text && job.isNewest() && this.deps.completion().prefetch) this.prefetchAfter(req, entry.text);
    });
    // Aborted, failed or skipped: readers stop waiting, and a partial suggestion is not kept.
    void job.done.then(() => {
      if (entry.done) return;
      if (this.cache.get(key) === entry) this.cache.delete(key);
      entry.set(entry.text, true);
    });
    return job;
  }

  private request(req: ProvideRequest, signal: AbortSignal): CompletionRequest & { stopContext: CursorContext } {
    const d = this.deps.decode();
    return {
      prefix: req.prefix,
      ...(req.context ? { context: req.context } : {}),
      suffix: req.suffix,
      cursorLine: this.deps.completion().cursorLine,
      strategy: d.strategy,
      maxNewTokens: d.maxTokens,
      sampling: d.temperature > 0 ? { ...GREEDY, temperature: d.temperature, seed: Math.floor(Math.random() * 2 ** 31) } : GREEDY,
      settings: decodeSettings(d),
      signal,
      stopText: (text) => shouldStop(text, req.cursor),
      stopContext: req.cursor,
    };
  }

  private finish(req: ProvideRequest, entry: Entry, last: CompletionUpdate, firstMs: number | null, totalMs: number, prefetch: boolean): void {
    const r = this.deps.history.record({ trace: last.trace, uri: req.uri, languageId: req.languageId, shown: entry.text, firstMs, totalMs, prefetch });
    const t = r.trace;
    const s = r.summary;
    this.deps.log.info(
      `completion #${t.id} strategy=${t.strategy} model=${t.model} tokens=${t.tokens} steps=${s.steps} ${s.tokensPerSecond.toFixed(0)} tok/s ` +
        `acceptance=${(100 * s.acceptanceRate).toFixed(0)}% first=${firstMs === null ? '-' : firstMs.toFixed(0)}ms total=${totalMs.toFixed(0)}ms ` +
        `stop=${t.stopReason} shown=${entry.text.length}ch lines=${entry.text ? entry.text.split('\n').length : 0} ` +
        `${prefetch ? 'prefetch' : `at=v${req.version}:${req.offset}`} maxInFlight=${this.scheduler.maxInFlight}`,
    );
  }

  /** Decodes the next suggestion as if `text` had been accepted, so Tab is followed by an instant one. */
  private prefetchAfter(req: ProvideRequest, text: string): void {
    // The window keeps its start (the engine trims to tokens), so the prefetch reuses the KV cache of the text before the cursor.
    const prefix = req.prefix + text;
    const key = this.cache.key(prefix, req.suffix);
    if (this.cache.get(key)) return;
    const lines = (req.cursor.linePrefix + text).split('\n');
    const next: ProvideRequest = { ...req, version: -1, offset: req.offset + text.length, prefix, cursor: { ...req.cursor, linePrefix: lines[lines.length - 1]! } };
    const entry = new Entry();
    this.cache.set(key, entry);
    this.startDecode(next, key, entry, true);
  }

  /** Offers no completions until the returned function is called (the benchmark owns the engine meanwhile). */
  suspend(): () => void {
    this.suspended++;
    let resumed = false;
    return () => {
      if (!resumed) this.suspended--;
      resumed = true;
    };
  }

  /** Aborts any decode and waits until the engine is free. */
  idle(): Promise<void> {
    return this.scheduler.idle();
  }

  dispose(): void {
    this.extended.dispose();
    void this.scheduler.idle();
  }
}
