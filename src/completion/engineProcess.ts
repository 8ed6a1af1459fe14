// The engine process's entry (bundled as dist/engineProcess.js, started with child_process.fork):
// hosts one Engine and answers the extension host's messages over IPC. It never imports vscode.
import { Engine } from '../engine';
import { shouldStop } from './policy';
import { toWire, type FromEngine, type ToEngine } from './engineProtocol';

let engine: Engine | undefined;
const running = new Map<number, AbortController>();
/** The parts received so far of a big document's retrieval update, by request id. */
const parts = new Map<number, string[]>();
/** A closed channel means the extension host is gone: nothing is left to answer. */
const post = (m: FromEngine) => {
  if (process.connected) process.send?.(m, undefined, {}, () => {});
};

async function complete(id: number, req: Extract<ToEngine, { type: 'complete' }>['req']): Promise<void> {
  const arrived = performance.now();
  const ctrl = new AbortController();
  running.set(id, ctrl);
  const { stopContext, ...rest } = req;
  try {
    if (!engine) throw new Error('The engine is not loaded.');
    const stopText = stopContext ? (text: string) => shouldStop(text, stopContext) : undefined;
    let sentSteps = 0;
    let sentOutput = 0;
    for await (const u of engine.complete({ ...rest, signal: ctrl.signal, ...(stopText ? { stopText } : {}) })) {
      if (u.done) {
        post({ type: 'update', id, text: u.text, delta: u.delta, done: true, trace: u.trace });
        continue;
      }
      const { steps, output, ...head } = u.trace;
      post({ type: 'update', id, text: u.text, delta: u.delta, done: false, progress: { head, steps: steps.slice(sentSteps), output: output.slice(sentOutput) } });
      sentSteps = steps.length;
      sentOutput = output.length;
    }
    post({ type: 'end', id, engineMs: performance.now() - arrived });
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

function load(m: Extract<ToEngine, { type: 'load' }>): void {
  Engine.load({ ...m.options, log: (level, message) => post({ type: 'log', level, message }) }).then(
    (e) => {
      engine = e;
      e.onDidChangeProvider((c) => post({ type: 'provider', ...c }));
      post({ type: 'loaded', info: { model: e.target.folder.name, provider: e.target.provider, providerReason: e.providerReason, draft: e.draft?.folder.name ?? null, available: e.available(), context: e.target.contextLength } });
    },
    (err: unknown) => post({ type: 'load-failed', error: toWire(err) }),
  );
}

function onMessage(m: ToEngine): void {
  switch (m.type) {
    case 'load':
      return load(m);
    case 'complete':
      void complete(m.id, m.req);
      return;
    case 'abort':
      running.get(m.id)?.abort();
      return;
    case 'retrieval-abort':
      parts.delete(m.id);
      running.get(m.id)?.abort();
      return;
    case 'retrieval-part': {
      const list = parts.get(m.id);
      if (list) list.push(m.text);
      else parts.set(m.id, [m.text]);
      return;
    }
    case 'retrieval-update': {
      const ctrl = new AbortController();
      running.set(m.id, ctrl);
      const before = parts.get(m.id);
      parts.delete(m.id);
      const text = before ? before.join('') + m.text : m.text;
      void answer(m.id, async () => engine?.retrieval.update(m.doc, text, ctrl.signal)).finally(() => running.delete(m.id));
      return;
    }
    case 'retrieval-remove':
      engine?.retrieval.remove(m.doc);
      return;
    case 'memory': {
      const mem = process.memoryUsage();
      post({ type: 'memory', id: m.id, rss: mem.rss, heapUsed: mem.heapUsed, external: mem.external });
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
      }).finally(() => process.disconnect?.());
      return;
  }
}

process.on('message', (m) => onMessage(m as ToEngine));
// The extension host closed the channel (it exited, or it crashed): this process must not outlive it.
process.on('disconnect', () => process.exit(0));
