// Runs the graph builder in a child process (dist/buildProcess.js, or the .ts source under tsx in
// tests) and relays its progress; cancelling asks it to stop, then kills it and removes its
// half-written folder (the builder writes `${out}.building-${pid}-*` and renames it at the end).
import { fork } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { BuildOptions } from '../../build/builder';
import { abortError, HastenError, HastenErrorCode } from '../errors';
import type { BuildReply, BuildRequest } from './buildProcess';

/** What prepareModel calls to build: the builder's own `build`, or `forkBuild(entry)`. */
export type BuildRunner = (o: BuildOptions) => Promise<unknown>;

/** A BuildRunner that builds in a child process started from `entry`. */
export function forkBuild(entry: string, killAfterMs = 2000): BuildRunner {
  return (o) => new Promise((resolve, reject) => {
    if (o.signal?.aborted) return reject(abortError());
    const child = fork(entry, [], {
      execArgv: entry.endsWith('.ts') ? ['--import', 'tsx'] : [],
      env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' },
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    let settled = false;
    const finish = (err?: Error) => {
      if (settled) return;
      settled = true;
      o.signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve(undefined);
    };
    const onAbort = () => {
      child.send({ kind: 'abort' } satisfies BuildRequest);
      const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      child.once('exit', () => {
        clearTimeout(timer);
        removeLeftovers(o.out, child.pid);
        finish(abortError());
      });
    };
    o.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('message', (m: BuildReply) => {
      if (m.kind === 'progress') o.onProgress?.(m.done, m.total, m.what);
      else if (m.kind === 'done') finish();
      else if (m.kind === 'error') finish(m.name === 'AbortError' ? abortError() : rebuildError(m));
    });
    child.once('exit', (code, signal) => {
      if (!o.signal?.aborted) finish(new Error(`The build process ended (${signal ?? `exit code ${code}`}) without a result. ${stderr.trim()}`.trim()));
    });
    const { signal: _s, onProgress: _p, ...options } = o;
    child.send({ kind: 'build', options } satisfies BuildRequest);
  });
}

function rebuildError(m: { name: string; message: string; code?: string }): Error {
  const err = m.code ? new HastenError(m.code as HastenErrorCode, m.message, '') : new Error(m.message);
  err.name = m.name;
  return err;
}

function removeLeftovers(out: string, pid: number | undefined): void {
  if (pid === undefined) return;
  const dir = path.dirname(out);
  const prefix = `${path.basename(out)}.building-${pid}-`;
  try {
    for (const f of fs.readdirSync(dir)) if (f.startsWith(prefix)) fs.rmSync(path.join(dir, f), { recursive: true, force: true });
  } catch {
    // the folder may not exist yet
  }
}
