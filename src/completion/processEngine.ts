// The engine as the extension host sees it: the same narrow API, run in a child process so that
// inference never blocks the extension host's event loop, and a native crash or an out-of-memory in
// ONNX Runtime ends that process instead of the extension host (EngineHost restarts it).
import { fork, type ChildProcess } from 'node:child_process';
import { HastenError, abortError, type CompletionTrace, type CompletionUpdate, type EngineOptions, type ProviderChange, type Strategy } from '../engine';
import type { CompletionRequest } from '../engine';
import { Emitter, type Disposable, type Event } from './event';
import type { CursorContext } from './policy';
import type { EngineInfo, EngineMemory, FromEngine, ToEngine, WireError } from './engineProtocol';

/** How an engine process ended when nobody asked it to. */
export interface EngineExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The end of what it wrote to stderr (a native crash's message), at most STDERR_TAIL characters. */
  stderr: string;
}

/** What the extension needs of a loaded engine; the in-process Engine has the same shape. */
export interface LoadedEngine {
  complete(req: CompletionRequest & { stopContext?: CursorContext }): AsyncIterable<CompletionUpdate>;
  readonly retrieval: { update(id: string, text: string, signal?: AbortSignal): Promise<void>; remove(id: string): void };
  reset(): Promise<void>;
  available(): Strategy[];
  dispose(): Promise<void>;
  /** `contextLength`: tokens the model runs at (hasten.contextTokens or the provider's default). */
  readonly target: { readonly folder: { readonly name: string }; readonly provider: string; readonly contextLength?: number };
  /** Why the target runs on its provider (auto's choice or the setting). */
  readonly providerReason?: string;
  readonly draft: { readonly folder: { readonly name: string } } | null;
  /** Fires once if the engine's process ends without being disposed (an engine in this thread never does). */
  readonly onDidExit?: Event<EngineExit>;
  /** Fires when the target's provider changes after load (a device that failed mid-decode); `target` and `providerReason` say the new state. */
  onDidChangeProvider?(listener: (e: ProviderChange) => void): Disposable;
}

/** One completion's wall time as the caller saw it and as the engine process spent it; the difference is the boundary's cost. */
export interface CompletionTiming {
  callerMs: number;
  engineMs: number;
}

/** The error a request gets when the engine process ends under it: callers end quietly on it. */
export class EngineExitError extends Error {
  override readonly name = 'EngineExitError';
}

export function isEngineExit(err: unknown): boolean {
  return err instanceof Error && err.name === 'EngineExitError';
}

/** A readable "exited with code 1" / "was killed by SIGKILL", for logs and the status bar. */
export function describeExit(e: Pick<EngineExit, 'code' | 'signal'>): string {
  return e.signal ? `was killed by ${e.signal}` : `exited with code ${e.code}`;
}

const STDERR_TAIL = 2000;
/** Loading a big model from a slow disk takes seconds; a load that takes this long is hung. */
const LOAD_TIMEOUT_MS = 120_000;
/** Characters of a document per IPC message (about 1 ms of synchronous serialising and writing). */
export const IPC_PART_CHARS = 256 * 1024;
/** After a dispose message, how long the process gets to free its sessions before it is killed. */
const DISPOSE_GRACE_MS = 2000;

function fromWire(e: WireError): Error {
  const err = e.code && e.fix !== undefined ? new HastenError(e.code as HastenError['code'], e.message.replace(` ${e.fix}`, ''), e.fix) : new Error(e.message);
  err.name = e.name;
  return err;
}

/** Starts node on `file`: the bundled .js, or a .ts source through tsx (tests, benchmarks). */
function spawnEngine(file: string): ChildProcess {
  return fork(file, [], {
    // Not the parent's flags (an inspector port, --test): the engine process gets only what it needs.
    execArgv: file.endsWith('.ts') ? ['--import', 'tsx'] : [],
    // Inside VS Code the extension host's executable is Electron: run it as plain Node. glibc gives
    // each of ONNX Runtime's threads its own malloc arena, whose high-water marks stay resident:
    // with two arenas one bench:provider run measured 208-267 MB over 1,100 completions, against
    // 289-316 MB with glibc's default (one run each, on a busy machine).
    env: { MALLOC_ARENA_MAX: '2', ...process.env, ELECTRON_RUN_AS_NODE: '1' },
    serialization: 'advanced',
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
}

type Listener = (m: FromEngine) => void;

export class ProcessEngine implements LoadedEngine {
  private nextId = 1;
  private readonly listeners = new Map<number, Listener>();
  private disposed = false;
  private readonly exited = new Emitter<EngineExit>();
  readonly onDidExit: Event<EngineExit> = this.exited.event;
  private readonly timed = new Emitter<CompletionTiming>();
  /** Fires after each completion that ends normally, with its time here and in the engine process. */
  readonly onDidTime: Event<CompletionTiming> = this.timed.event;
  readonly retrieval: LoadedEngine['retrieval'];
  target: LoadedEngine['target'];
  readonly draft: LoadedEngine['draft'];
  providerReason?: string;
  private readonly providerChanged = new Emitter<ProviderChange>();

  private constructor(private readonly child: ChildProcess, private readonly info: EngineInfo, private readonly stderr: () => string) {
    this.target = { folder: { name: info.model }, provider: info.provider, contextLength: info.context };
    this.providerReason = info.providerReason;
    this.draft = info.draft ? { folder: { name: info.draft } } : null;
    child.on('message', (m: FromEngine) => {
      if ('id' in m) this.listeners.get(m.id)?.(m);
      else if (m.type === 'provider') {
        this.target = { ...this.target, provider: m.provider };
        this.providerReason = m.providerReason;
        this.providerChanged.fire({ provider: m.provider, providerReason: m.providerReason });
      }
    });
    child.once('exit', (code, signal) => this.ended({ code, signal, stderr: this.stderr() }));
    // A ChildProcess 'error' without a listener would throw in the extension host; the ones after a
    // start (a failed kill or send) are followed by 'exit' or answered through send's callback.
    child.on('error', () => {});
    this.retrieval = {
      update: (doc, text, signal) => this.update(doc, text, signal),
      remove: (doc) => this.send({ type: 'retrieval-remove', doc }),
    };
  }

  /**
   * Starts a process running `file` (dist/engineProcess.js; the .ts source in tests and benchmarks,
   * through tsx) and loads the engine in it; errors are the engine's own (HastenError with cause and fix).
   */
  onDidChangeProvider(listener: (e: ProviderChange) => void): Disposable {
    return this.providerChanged.event(listener);
  }

  static load(o: EngineOptions, file: string, loadTimeoutMs = LOAD_TIMEOUT_MS): Promise<ProcessEngine> {
    const child = spawnEngine(file);
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-STDERR_TAIL)));
    const { log, ...options } = o;
    return new Promise<ProcessEngine>((resolve, reject) => {
      const settle = (err?: Error, engine?: ProcessEngine) => {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
        child.off('error', onError);
        if (err) {
          child.kill('SIGKILL');
          reject(err);
        } else resolve(engine!);
      };
      const onMessage = (m: FromEngine) => {
        if (m.type === 'log') log?.(m.level, m.message);
        else if (m.type === 'loaded') {
          const engine = new ProcessEngine(child, m.info, () => stderr);
          // Messages the engine logs after loading (fallbacks at first use) still reach the log.
          child.on('message', (l: FromEngine) => l.type === 'log' && log?.(l.level, l.message));
          settle(undefined, engine);
        } else if (m.type === 'load-failed') settle(fromWire(m.error));
      };
      const onExit = (code: number | null, signal: NodeJS.Signals | null) =>
        settle(new EngineExitError(`The engine process ${describeExit({ code, signal })} while loading ${o.modelDir}.${stderr ? ` Its last output: ${stderr.trim().slice(-500)}` : ''}`));
      const onError = (err: Error) => settle(new Error(`The engine process ${file} failed to start: ${err.message}`));
      const timer = setTimeout(() => settle(new Error(`The engine process did not finish loading ${o.modelDir} within ${loadTimeoutMs / 1000} s; it was stopped.`)), loadTimeoutMs);
      child.on('message', onMessage);
      child.on('exit', onExit);
      child.on('error', onError);
      child.send({ type: 'load', options } satisfies ToEngine);
    });
  }

  /** The engine process's id (for tests that kill it). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  available(): Strategy[] {
    return this.info.available;
  }

  /** Streams a completion from the engine process; aborting the signal stops it there within one step. */
  async *complete(req: CompletionRequest & { stopContext?: CursorContext }): AsyncGenerator<CompletionUpdate> {
    if (this.disposed) throw new EngineExitError('The engine was disposed.');
    const id = this.nextId++;
    const queue: FromEngine[] = [];
    let wake: (() => void) | undefined;
    this.listeners.set(id, (m) => {
      queue.push(m);
      wake?.();
    });
    const { signal, stopText: _local, ...wire } = req;
    const onAbort = () => this.send({ type: 'abort', id });
    signal?.addEventListener('abort', onAbort, { once: true });
    const live: CompletionTrace = { id: 0, strategy: req.strategy, model: this.info.model, drafter: '', promptTokens: 0, reusedTokens: 0, tokens: 0, output: [], prefillMs: 0, decodeMs: 0, steps: [], stopReason: 'length' };
    const sent = performance.now();
    try {
      this.send({ type: 'complete', id, req: wire });
      if (signal?.aborted) onAbort();
      for (;;) {
        while (queue.length === 0) await new Promise<void>((r) => (wake = r));
        const m = queue.shift()!;
        if (m.type === 'update') {
          if (m.progress) {
            Object.assign(live, m.progress.head);
            live.steps.push(...m.progress.steps);
            live.output.push(...m.progress.output);
          }
          // The final trace replaces what was pieced together (a step may have changed after it was sent).
          if (m.trace) Object.assign(live, m.trace);
          yield { text: m.text, delta: m.delta, done: m.done, trace: live };
        } else if (m.type === 'end') {
          if (m.error) throw m.error.name === 'EngineExitError' ? new EngineExitError(m.error.message) : fromWire(m.error);
          if (m.engineMs !== undefined) this.timed.fire({ callerMs: performance.now() - sent, engineMs: m.engineMs });
          return;
        }
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      this.listeners.delete(id);
    }
  }

  /** The engine process's memory in bytes. */
  memory(): Promise<EngineMemory> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.listeners.set(id, (m) => {
        this.listeners.delete(id);
        if (m.type === 'memory') resolve({ rss: m.rss, heapUsed: m.heapUsed, external: m.external });
        else reject(new EngineExitError('The engine process ended before it reported its memory.'));
      });
      this.send({ type: 'memory', id });
    });
  }

  reset(): Promise<void> {
    return this.call({ type: 'reset', id: this.nextId++ });
  }

  /** Frees the engine's sessions and ends its process (killed if it does not end within a grace period). */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const gone = new Promise<void>((r) => this.child.once('exit', () => r()));
    const grace = setTimeout(() => this.child.kill('SIGKILL'), DISPOSE_GRACE_MS);
    await this.call({ type: 'dispose', id: this.nextId++ }).catch(() => {});
    await gone;
    clearTimeout(grace);
  }

  /** The process ended: everything pending is answered (quietly, as EngineExitError), and an unasked end is reported. */
  private ended(exit: EngineExit): void {
    const error: WireError = { name: 'EngineExitError', message: `The engine process ${describeExit(exit)}.` };
    for (const [id, l] of [...this.listeners]) {
      l({ type: 'end', id, error });
      l({ type: 'done', id, error });
    }
    const unasked = !this.disposed;
    this.disposed = true;
    if (unasked) this.exited.fire(exit);
    this.exited.dispose();
    this.timed.dispose();
  }

  private send(m: ToEngine): void {
    if ((this.disposed && m.type !== 'dispose') || !this.child.connected) return;
    // A channel that closes between the check and the write reports through the callback, not a throw.
    this.child.send(m, undefined, {}, () => {});
  }

  /**
   * Hands a document to the engine's retrieval index. Serialising and writing a message is synchronous,
   * about 4 ms a megabyte, so a big document goes as parts of IPC_PART_CHARS, one per turn of the event
   * loop: typing and completions go on between them.
   */
  private async update(doc: string, text: string, signal?: AbortSignal): Promise<void> {
    const id = this.nextId++;
    let at = 0;
    while (text.length - at > IPC_PART_CHARS) {
      let end = at + IPC_PART_CHARS;
      // Never between the halves of a surrogate pair.
      const c = text.charCodeAt(end - 1);
      if (c >= 0xd800 && c <= 0xdbff) end--;
      this.send({ type: 'retrieval-part', id, text: text.slice(at, end) });
      at = end;
      await new Promise<void>((r) => setImmediate(r));
      if (signal?.aborted) {
        this.send({ type: 'retrieval-abort', id });
        throw abortError();
      }
    }
    return this.call({ type: 'retrieval-update', id, doc, text: text.slice(at) }, signal);
  }

  /** Sends a request answered by one 'done' message. */
  private call(m: Extract<ToEngine, { id: number }>, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (!this.child.connected) return reject(new EngineExitError('The engine process has ended.'));
      const onAbort = () => this.send({ type: 'retrieval-abort', id: m.id });
      signal?.addEventListener('abort', onAbort, { once: true });
      this.listeners.set(m.id, (r) => {
        if (r.type !== 'done') return;
        this.listeners.delete(m.id);
        signal?.removeEventListener('abort', onAbort);
        if (r.error) reject(r.error.name === 'EngineExitError' ? new EngineExitError(r.error.message) : fromWire(r.error));
        else resolve();
      });
      this.send(m);
    });
  }
}
