// The engine worker's entry (bundled as dist/engineWorker.js): hosts one Engine and answers the
// extension host's messages. It never imports vscode.
import { parentPort } from 'node:worker_threads';
import { Engine } from '../engine';
import { shouldStop } from './policy';
import { toWire, type FromWorker, type ToWorker } from './workerProtocol';

const port = parentPort;
let engine: Engine | undefined;
const running = new Map<number, AbortController>();
const post = (m: FromWorker) => port?.postMessage(m);

async function complete(id: number, req: Extract<ToWorker, { type: 'complete' }>['req']): Promise<void> {
  const ctrl = new AbortController();
  running.set(id, ctrl);
  const { stopContext, ...rest } = req;
  try {
    if (!engine) throw new Error('The engine is not loaded.');
    const stopText = stopContext ? (text: string) => shouldStop(text, stopContext) : undefined;
    for await (const u of engine.complete({ ...rest, signal: ctrl.signal, ...(stopText ? { stopText } : {}) })) {
      post({ type: 'update', id, text: u.text, delta: u.delta, done: u.done, ...(u.done ? { trace: u.trace } : {}) });
    }
    post({ type: 'end', id });
  } catch (err) {
    post({ type: 'end', id, error: toWire(err) });
  } finally {
    running.delete(id);
  }
}

async function answer(id: number, work: () => Promise<void>): Promise<void> {
  try {
    await work();
    post({ type: 'done', id });
  } catch (err) {
    post({ type: 'done', id, error: toWire(err) });
  }
}

port?.on('message', (m: ToWorker) => {
  switch (m.type) {
    case 'load':
      Engine.load({ ...m.options, log: (level, message) => post({ type: 'log', level, message }) }).then(
        (e) => {
          engine = e;
          post({ type: 'loaded', info: { model: e.target.folder.name, provider: e.target.provider, draft: e.draft?.folder.name ?? null, available: e.available() } });
        },
        (err: unknown) => post({ type: 'load-failed', error: toWire(err) }),
      );
      return;
    case 'complete':
      void complete(m.id, m.req);
      return;
    case 'abort':
    case 'retrieval-abort':
      running.get(m.id)?.abort();
      return;
    case 'retrieval-update': {
      const ctrl = new AbortController();
      running.set(m.id, ctrl);
      void answer(m.id, async () => engine?.retrieval.update(m.doc, m.text, ctrl.signal)).finally(() => running.delete(m.id));
      return;
    }
    case 'retrieval-remove':
      engine?.retrieval.remove(m.doc);
      return;
    case 'memory': {
      const mem = process.memoryUsage();
      post({ type: 'memory', id: m.id, heapUsed: mem.heapUsed, external: mem.external });
      return;
    }
    case 'reset':
      void answer(m.id, async () => engine?.reset());
      return;
    case 'dispose':
      for (const c of running.values()) c.abort();
      void answer(m.id, async () => {
        await engine?.dispose();
        engine = undefined;
      });
      return;
  }
});
