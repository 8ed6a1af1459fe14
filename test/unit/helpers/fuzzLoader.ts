// The fuzz test's loader process: loads each model folder it is sent through the real Engine.load,
// runs a short completion when it loads, disposes of it, and answers with the outcome, the ONNX
// Runtime sessions still alive, and any unhandled rejection. A native crash ends this process,
// which the test sees and counts.
import * as ort from 'onnxruntime-node';
import { Engine } from '../../../src/engine';

let live = 0;
const create = ort.InferenceSession.create.bind(ort.InferenceSession) as (...a: unknown[]) => Promise<ort.InferenceSession>;
(ort.InferenceSession as unknown as { create: typeof create }).create = async (...args) => {
  const s = await create(...args);
  live++;
  const release = s.release.bind(s);
  let released = false;
  s.release = () => {
    if (!released) live--;
    released = true;
    return release();
  };
  return s;
};

const unhandled: string[] = [];
process.on('unhandledRejection', (reason) => unhandled.push(reason instanceof Error ? `${reason.name}: ${reason.message}` : String(reason)));

const wire = (err: unknown) => (err instanceof Error ? { name: err.name, message: err.message } : { name: typeof err, message: String(err) });

export interface FuzzReply {
  outcome: 'loaded' | 'load-failed' | 'complete-failed';
  error?: { name: string; message: string };
  text?: string;
  /** Sessions created during this case and never released. */
  leakedSessions: number;
  unhandled: string[];
}

async function attempt(dir: string): Promise<Omit<FuzzReply, 'leakedSessions' | 'unhandled'>> {
  let engine: Engine;
  try {
    engine = await Engine.load({ modelDir: dir, draftDir: null, cmlmDir: null, runtime: { provider: 'cpu', threads: 1, shared: true } });
  } catch (err) {
    return { outcome: 'load-failed', error: wire(err) };
  }
  try {
    let text = '';
    for await (const u of engine.complete({ prefix: 'def add(a, b):\n    return', suffix: '', strategy: 'autoregressive', maxNewTokens: 4 })) text = u.text;
    return { outcome: 'loaded', text };
  } catch (err) {
    return { outcome: 'complete-failed', error: wire(err) };
  } finally {
    await engine.dispose();
  }
}

process.on('message', (m: { dir: string }) => {
  const before = live;
  void attempt(m.dir).then(async (r) => {
    // Rejections nobody awaited surface after a turn of the event loop.
    await new Promise((res) => setTimeout(res, 5));
    process.send?.({ ...r, leakedSessions: live - before, unhandled: unhandled.splice(0) } satisfies FuzzReply);
  });
});
