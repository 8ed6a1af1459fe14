// The fuzz tests' side of the loader process (helpers/fuzzLoader.ts): sends it a model folder and
// waits for its verdict, or for its process to end (a native crash), or 10 s (a hang).
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { FuzzReply } from './fuzzLoader';

export const HANG_MS = 10_000;
const LOADER = path.join(__dirname, 'fuzzLoader.ts');

/** One loader process at a time, started on first use and again after one ends. */
export class Loader {
  private child: ChildProcess | undefined;

  private start(): ChildProcess {
    const child = fork(LOADER, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'pipe', 'ipc'], serialization: 'advanced' });
    child.stderr!.resume();
    child.on('error', () => {});
    return child;
  }

  /** The loader's reply, or how its process ended, or 'hang'. */
  load(dir: string): Promise<FuzzReply | { exit: string } | 'hang'> {
    const child = (this.child ??= this.start());
    return new Promise((resolve) => {
      const done = (v: FuzzReply | { exit: string } | 'hang') => {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
        if (v === 'hang' || 'exit' in v) {
          child.kill('SIGKILL');
          this.child = undefined;
        }
        resolve(v);
      };
      const onMessage = (m: FuzzReply) => done(m);
      const onExit = (code: number | null, signal: string | null) => done({ exit: signal ?? `code ${code}` });
      const timer = setTimeout(() => done('hang'), HANG_MS);
      child.on('message', onMessage);
      child.on('exit', onExit);
      child.send({ dir });
    });
  }

  stop(): void {
    this.child?.kill('SIGKILL');
  }
}

