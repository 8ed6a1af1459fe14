// Entry of dist/buildProcess.js: the graph builder in its own process, started by forkBuild. A real
// model's build is minutes of CPU in JavaScript, which in the extension host would stall typing.
// Messages: in {kind: 'build', options} then optionally {kind: 'abort'}; out progress, done or error.
import { build, BuildOptions } from '../../build/builder';
import { HastenError } from '../errors';

export type BuildRequest = { kind: 'build'; options: Omit<BuildOptions, 'signal' | 'onProgress'> } | { kind: 'abort' };
export type BuildReply =
  | { kind: 'progress'; done: number; total: number; what: string }
  | { kind: 'done'; out: string; seconds: number }
  | { kind: 'error'; name: string; message: string; code?: string };

const send = (m: BuildReply) => new Promise<void>((resolve) => (process.send ? process.send(m, () => resolve()) : resolve()));

function main(): void {
  const ac = new AbortController();
  process.on('message', (m: BuildRequest) => {
    if (m.kind === 'abort') return ac.abort();
    if (m.kind !== 'build') return;
    build({ ...m.options, signal: ac.signal, onProgress: (done, total, what) => void send({ kind: 'progress', done, total, what }) })
      .then((s) => send({ kind: 'done', out: s.out, seconds: s.seconds }).then(() => process.exit(0)))
      .catch((err: Error) => send({ kind: 'error', name: err.name, message: err.message, code: err instanceof HastenError ? err.code : undefined }).then(() => process.exit(1)));
  });
  // The parent gone means nobody wants the build.
  process.on('disconnect', () => process.exit(1));
}

if (process.send) main();
