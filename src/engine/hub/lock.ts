// One writer per blob: two downloads of the same file (two VS Code windows, or two calls in one)
// must not append to the same .incomplete. Within a process, calls queue on a promise; across
// processes, a lock file created with O_EXCL holds the owner's pid, and a lock whose pid is gone
// is taken over. (huggingface_hub's flock-based locks are not visible from Node; its writers use
// the same .incomplete name, so a Python download running at the same moment is not excluded.)
import fs from 'node:fs';
import { abortError } from '../errors';

const queues = new Map<string, Promise<void>>();

/** Runs `fn` holding the lock `file` (in this process and across processes). */
export async function withLock<T>(file: string, fn: () => Promise<T>, signal?: AbortSignal, pollMs = 250): Promise<T> {
  const prev = queues.get(file) ?? Promise.resolve();
  let release!: () => void;
  const mine = prev.then(() => new Promise<void>((r) => (release = r)));
  queues.set(file, mine);
  await prev;
  try {
    await acquire(file, signal, pollMs);
    try {
      return await fn();
    } finally {
      fs.rmSync(file, { force: true });
    }
  } finally {
    release();
    if (queues.get(file) === mine) queues.delete(file);
  }
}

async function acquire(file: string, signal: AbortSignal | undefined, pollMs: number): Promise<void> {
  for (;;) {
    if (signal?.aborted) throw abortError();
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (!ownerAlive(file)) {
      fs.rmSync(file, { force: true });
      continue;
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

function ownerAlive(file: string): boolean {
  let pid: number;
  try {
    pid = Number(fs.readFileSync(file, 'utf8'));
  } catch {
    return false; // gone meanwhile
  }
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return false; // calls in this process queue above, so ours is a leftover
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
