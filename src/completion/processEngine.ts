// The engine as the extension host sees it: the same narrow API, run in a worker thread so that
// inference never blocks the extension host's event loop.
import { Worker } from 'node:worker_threads';
import { HastenError, type CompletionTrace, type CompletionUpdate, type EngineOptions, type Strategy } from '../engine';
import type { CompletionRequest } from '../engine';
import type { CursorContext } from './policy';
import type { EngineInfo, FromWorker, ToWorker, WireError } from './workerProtocol';

/** What the extension needs of a loaded engine; the in-process Engine has the same shape. */
export interface LoadedEngine {
  complete(req: CompletionRequest & { stopContext?: CursorContext }): AsyncIterable<CompletionUpdate>;
  readonly retrieval: { update(id: string, text: string, signal?: AbortSignal): Promise<void>; remove(id: string): void };
  reset(): Promise<void>;
  available(): Strategy[];
  dispose(): Promise<void>;
  readonly target: { readonly folder: { readonly name: string }; readonly provider: string };
  readonly draft: { readonly folder: { readonly name: string } } | null;
}

function fromWire(e: WireError): Error {
  const err = e.code && e.fix !== undefined ? new HastenError(e.code as HastenError['code'], e.message.replace(` ${e.fix}`, ''), e.fix) : new Error(e.message);
  err.name = e.name;
  return err;
}

type Listener = (m: FromWorker) => void;

export class WorkerEngine implements LoadedEngine {
  private nextId = 1;
  private readonly listeners = new Map<number, Listener>();
  private disposed = false;
  readonly retrieval: LoadedEngine['retrieval'];
  readonly target: LoadedEngine['target'];
  readonly draft: LoadedEngine['draft'];

  private constructor(private readonly worker: Worker, private readonly info: EngineInfo) {
    this.target = { folder: { name: info.model }, provider: info.provider };
    this.draft = info.draft ? { folder: { name: info.draft } } : null;
    worker.on('message', (m: FromWorker) => {
      if ('id' in m) this.listeners.get(m.id)?.(m);
    });
    // A worker that dies answers everything pending with the reason, instead of leaving it hanging.
    const fail = (why: string) => {
      const error = { name: 'Error', message: `The engine worker stopped (${why}).` };
      for (const [id, l] of [...this.listeners]) {
        l({ type: 'end', id, error });
        l({ type: 'done', id, error });
      }
      this.disposed = true;
    };
    worker.on('error', (err) => fail(err.message));
    worker.on('exit', (code) => fail(`exit code ${code}`));
    this.retrieval = {
      update: (doc, text, signal) => this.call({ type: 'retrieval-update', id: this.nextId++, doc, text }, signal),
      remove: (doc) => this.send({ type: 'retrieval-remove', doc }),
    };
  }

  /**
   * Starts a worker running `file` (dist/engineWorker.js; the .ts source in tests and benchmarks,
   * through tsx) and loads the engine in it; errors are the engine's own (HastenError with cause and fix).
   */
  static load(o: EngineOptions, file: string): Promise<WorkerEngine> {
    const worker = file.endsWith('.ts') ? new Worker(`require('tsx/cjs'); require(${JSON.stringify(file)});`, { eval: true }) : new Worker(file);
    const { log, ...options } = o;
    return new Promise((resolve, reject) => {
      const onMessage = (m: FromWorker) => {
        if (m.type === 'log') log?.(m.level, m.message);
        else if (m.type === 'loaded') {
          worker.off('error', onError);
          resolve(new WorkerEngine(worker, m.info));
        } else if (m.type === 'load-failed') {
          void worker.terminate();
          reject(fromWire(m.error));
        }
      };
      const onError = (err: Error) => reject(new Error(`The engine worker ${file} failed to start: ${err.message}`));
      worker.on('message', onMessage);
      worker.once('error', onError);
      worker.postMessage({ type: 'load', options } satisfies ToWorker);
    });
  }

  available(): Strategy[] {
    return this.info.available;
  }

  /** Streams a completion from the worker; aborting the signal stops it there within one step. */
  async *complete(req: CompletionRequest & { stopContext?: CursorContext }): AsyncGenerator<CompletionUpdate> {
    if (this.disposed) throw new Error('The engine was disposed.');
    const id = this.nextId++;
    const queue: FromWorker[] = [];
    let wake: (() => void) | undefined;
    this.listeners.set(id, (m) => {
      queue.push(m);
      wake?.();
    });
    const { signal, stopText: _local, ...wire } = req;
    const onAbort = () => this.send({ type: 'abort', id });
    signal?.addEventListener('abort', onAbort, { once: true });
    const live: CompletionTrace = { id: 0, strategy: req.strategy, model: this.info.model, drafter: '', promptTokens: 0, reusedTokens: 0, tokens: 0, output: [], prefillMs: 0, decodeMs: 0, steps: [], stopReason: 'length' };
    try {
      this.send({ type: 'complete', id, req: wire });
      if (signal?.aborted) onAbort();
      for (;;) {
        while (queue.length === 0) await new Promise<void>((r) => (wake = r));
        const m = queue.shift()!;
        if (m.type === 'update') {
          if (m.trace) Object.assign(live, m.trace);
          yield { text: m.text, delta: m.delta, done: m.done, trace: live };
        } else if (m.type === 'end') {
          if (m.error) throw fromWire(m.error);
          return;
        }
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      this.listeners.delete(id);
    }
  }

  /** The worker's heap in bytes (used, and external such as typed arrays). */
  memory(): Promise<{ heapUsed: number; external: number }> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.listeners.set(id, (m) => {
        if (m.type !== 'memory') return;
        this.listeners.delete(id);
        resolve({ heapUsed: m.heapUsed, external: m.external });
      });
      this.send({ type: 'memory', id });
    });
  }

  reset(): Promise<void> {
    return this.call({ type: 'reset', id: this.nextId++ });
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.call({ type: 'dispose', id: this.nextId++ }).catch(() => {});
    await this.worker.terminate();
  }

  private send(m: ToWorker): void {
    if (!this.disposed || m.type === 'dispose') this.worker.postMessage(m);
  }

  /** Sends a request answered by one 'done' message. */
  private call(m: Extract<ToWorker, { id: number }>, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const onAbort = () => this.send({ type: 'retrieval-abort', id: m.id });
      signal?.addEventListener('abort', onAbort, { once: true });
      this.listeners.set(m.id, (r) => {
        if (r.type !== 'done') return;
        this.listeners.delete(m.id);
        signal?.removeEventListener('abort', onAbort);
        if (r.error) reject(fromWire(r.error));
        else resolve();
      });
      this.send(m);
    });
  }
}
