// The digest of a download as its bytes arrive. sha256 costs about as much CPU as receiving and
// writing the bytes on loopback (client CPU per 256 MB: ~0.3 s hashing, ~0.35 s the rest; curl ~0.3 s
// in all), and hashing each chunk on the main thread between socket reads put that cost in series
// with the transfer. A large file is hashed in a worker thread instead, which reads the file back
// from the page cache as each batch lands on disk (handing it 4 MB copies cost the main thread
// another copy and a transfer per batch), so the hash runs beside the reads; a small file is hashed
// inline, chunk by chunk, where a worker's start-up would cost more than it saves. A large body read
// into shared batch buffers (directGet.ts) is hashed where it lies by one worker kept for the
// process (SharedHasher): per download it costs messages, not a start-up.
import { createHash, Hash } from 'node:crypto';
import fs from 'node:fs';
import { Worker } from 'node:worker_threads';

/** sha256 for LFS files (64 hex), git's blob sha1 for the rest (40 hex), else none. */
export type Digest = 'sha256' | 'git-sha1' | 'none';

/** Bytes still to hash from which a worker pays off. */
export const WORKER_FROM_BYTES = 32 << 20;

export interface Hasher {
  /** Hashes the first `bytes` of the file (the partial download being resumed). */
  file(path: string, bytes: number): Promise<void>;
  /** A chunk as it arrives (the inline hasher hashes it; the worker reads the file instead). */
  update(chunk: Uint8Array): void;
  /** The file's first `end` bytes are on disk (the worker reads them; the inline hasher has them). */
  landed(end: number): void;
  /** Hex digest of everything passed ('' for Digest 'none'). */
  digest(): Promise<string>;
  /** Stops a worker; safe after digest. */
  dispose(): void;
  /** Waits while the hash is too far behind the reads (the shared worker). */
  ready?(): Promise<unknown> | undefined;
  /** Set by the caller: bytes of the updates hashed so far, for a hasher that reads the chunks' buffers later (the shared worker). */
  onHashed?: (bytes: number) => void;
}

const algorithm = (d: Digest) => (d === 'sha256' ? 'sha256' : 'sha1');
/** git's blob sha1 covers a header with the size before the bytes. */
const header = (d: Digest, size: number) => (d === 'git-sha1' ? `blob ${size}\0` : '');

/** A hasher for the `size` bytes of `file`, of which `fresh` are still to arrive; `inline` for a body read into batch buffers. */
export function newHasher(d: Digest, size: number, fresh: number, file: string, inline = false): Hasher {
  if (d === 'none') return { file: async () => {}, update() {}, landed() {}, digest: async () => '', dispose() {} };
  if (fresh < WORKER_FROM_BYTES) return new InlineHasher(d, size);
  return inline ? new SharedHasher(d, size) : new WorkerHasher(d, size, file);
}

async function hashFileInto(hash: Hash, file: string, bytes: number): Promise<void> {
  if (bytes === 0) return;
  for await (const chunk of fs.createReadStream(file, { start: 0, end: bytes - 1, highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
}

class InlineHasher implements Hasher {
  private readonly hash: Hash;

  constructor(d: Digest, size: number) {
    this.hash = createHash(algorithm(d)).update(header(d, size));
  }

  file(path: string, bytes: number): Promise<void> {
    return hashFileInto(this.hash, path, bytes);
  }

  update(chunk: Uint8Array): void {
    this.hash.update(chunk);
  }

  landed(): void {}

  async digest(): Promise<string> {
    return this.hash.digest('hex');
  }

  dispose(): void {}
}

// Plain CommonJS run with `eval`, so the bundle needs no second entry point. It reads the file as
// it lands (from the page cache, into one reused buffer) up to the offset each message names, and
// answers null with the digest.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const hash = createHash(workerData.algorithm).update(workerData.header);
const buf = Buffer.allocUnsafe(4 << 20);
let fd = -1;
let pos = 0;
parentPort.on('message', (end) => {
  try {
    if (end === null) {
      if (fd >= 0) fs.closeSync(fd);
      return parentPort.postMessage({ digest: hash.digest('hex') });
    }
    if (fd < 0) fd = fs.openSync(workerData.file, 'r');
    while (pos < end) {
      const n = fs.readSync(fd, buf, 0, Math.min(buf.length, end - pos), pos);
      if (n <= 0) throw new Error('the file ended at ' + pos + ' of ' + end + ' bytes');
      hash.update(buf.subarray(0, n));
      pos += n;
    }
    parentPort.postMessage({ at: pos });
  } catch (err) {
    parentPort.postMessage({ error: String((err && err.message) || err) });
  }
});
`;

class WorkerHasher implements Hasher {
  private readonly worker: Worker;
  private failed: Error | undefined;
  private digestWaiter: { resolve: (d: string) => void; reject: (e: Error) => void } | undefined;
  private fileWaiter: { end: number; resolve: () => void; reject: (e: Error) => void } | undefined;

  constructor(d: Digest, size: number, file: string) {
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { algorithm: algorithm(d), header: header(d, size), file } });
    // An idle hasher must not keep the process alive.
    this.worker.unref();
    this.worker.on('message', (m: { digest?: string; at?: number; error?: string }) => {
      if (m.error !== undefined) return this.fail(new Error(`hashing the download: ${m.error}`));
      if (m.digest !== undefined) this.digestWaiter?.resolve(m.digest);
      if (m.at !== undefined && this.fileWaiter && m.at >= this.fileWaiter.end) this.fileWaiter.resolve();
    });
    this.worker.on('error', (e) => this.fail(e));
  }

  private fail(e: Error): void {
    this.failed ??= e;
    this.digestWaiter?.reject(e);
    this.fileWaiter?.reject(e);
  }

  file(_path: string, bytes: number): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      this.fileWaiter = { end: bytes, resolve, reject };
      this.worker.postMessage(bytes);
    });
  }

  update(): void {}

  landed(end: number): void {
    if (!this.failed) this.worker.postMessage(end);
  }

  digest(): Promise<string> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      this.digestWaiter = { resolve, reject };
      this.worker.postMessage(null);
    });
  }

  dispose(): void {
    void this.worker.terminate();
  }
}

/** Bytes posted to the shared worker and not yet hashed past which `ready()` waits (four batches ahead). */
const SHARED_AHEAD = 16 << 20;
/** Contiguous bytes of one batch buffer posted as one message. */
const SHARED_GROUP = 1 << 20;

// One hash per download, keyed by id; `update` hashes a range of a shared batch buffer where it is (no
// copy) and answers how many bytes that was, so the buffer is reused only once hashed. `file` hashes the
// partial being resumed from disk.
const SHARED_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const jobs = new Map();
parentPort.on('message', (m) => {
  try {
    if (m.op === 'start') return void jobs.set(m.id, createHash(m.algorithm).update(m.header));
    if (m.op === 'stall') return void Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, m.ms);
    const hash = jobs.get(m.id);
    if (!hash) return;
    if (m.op === 'update') {
      hash.update(new Uint8Array(m.buffer, m.offset, m.length));
      parentPort.postMessage({ id: m.id, hashed: m.length });
    } else if (m.op === 'file') {
      const fd = fs.openSync(m.path, 'r');
      try {
        const buf = Buffer.allocUnsafe(4 << 20);
        for (let pos = 0; pos < m.bytes; ) {
          const n = fs.readSync(fd, buf, 0, Math.min(buf.length, m.bytes - pos), pos);
          if (n <= 0) throw new Error('the file ended at ' + pos + ' of ' + m.bytes + ' bytes');
          hash.update(buf.subarray(0, n));
          pos += n;
        }
      } finally {
        fs.closeSync(fd);
      }
      parentPort.postMessage({ id: m.id, file: true });
    } else if (m.op === 'digest') {
      jobs.delete(m.id);
      parentPort.postMessage({ id: m.id, digest: hash.digest('hex') });
    } else if (m.op === 'drop') jobs.delete(m.id);

  } catch (err) {
    jobs.delete(m.id);
    parentPort.postMessage({ id: m.id, error: String((err && err.message) || err) });
  }
});
`;

type SharedReply = { id: number; hashed?: number; file?: true; digest?: string; error?: string };

/**
 * The one hashing worker of the process, started by the first large download whose body is read into
 * batch buffers and kept for the next (starting a worker per download cost 45-110 ms under load). It
 * holds the process open only while a hash is under way, and `disposeHashWorker` ends it.
 */
class HashWorker {
  private worker: Worker | undefined;
  private readonly jobs = new Map<number, SharedHasher>();
  private next = 1;

  open(job: SharedHasher): number {
    if (!this.worker) {
      const w = new Worker(SHARED_SOURCE, { eval: true });
      w.on('message', (m: SharedReply) => this.jobs.get(m.id)?.onReply(m));
      w.on('error', (e) => this.lost(w, e));
      w.on('exit', () => this.lost(w, new Error('the hashing worker exited')));
      this.worker = w;
    }
    const id = this.next++;
    this.jobs.set(id, job);
    this.worker.ref();
    return id;
  }

  post(message: object, transfer?: ArrayBuffer[]): void {
    this.worker?.postMessage(message, transfer);
  }

  close(id: number): void {
    this.jobs.delete(id);
    if (this.jobs.size === 0) this.worker?.unref();
  }

  private lost(w: Worker, e: Error): void {
    if (this.worker !== w) return;
    this.worker = undefined;
    const jobs = [...this.jobs.values()];
    this.jobs.clear();
    for (const j of jobs) j.fail(e);
  }

  dispose(): void {
    const w = this.worker;
    if (!w) return;
    this.lost(w, new Error('the hashing worker was stopped'));
    void w.terminate();
  }

  get running(): boolean {
    return this.worker !== undefined;
  }
}

const hashWorker = new HashWorker();

/** Ends the shared hashing worker (a download under way fails); the next download starts a new one. */
export function disposeHashWorker(): void {
  hashWorker.dispose();
}

/** Holds the shared worker (started if need be) busy for `ms` before its next message (tests: the hash falls behind the reads). */
export function stallHashWorker(ms: number): void {
  const h = new SharedHasher('sha256', 0);
  hashWorker.post({ op: 'stall', ms });
  h.dispose();
}

/** Whether the shared hashing worker is running (tests). */
export function hashWorkerRunning(): boolean {
  return hashWorker.running;
}

/**
 * Hashes a body read into shared batch buffers in the shared worker, beside the socket reads: each
 * chunk is posted as a range of its buffer (grouped up to 1 MB), not copied; `onHashed` says how far
 * the hash has got, so that a batch buffer is reused only once hashed; `ready()` waits while the
 * reads are more than SHARED_AHEAD bytes ahead of the hash.
 */
export class SharedHasher implements Hasher {
  private readonly id: number;
  private posted = 0;
  private hashed = 0;
  private group: { buffer: ArrayBufferLike; offset: number; length: number } | undefined;
  private failed: Error | undefined;
  private closed = false;
  private waiter: { until: () => boolean; resolve: (v: unknown) => void; reject: (e: Error) => void } | undefined;
  private digestValue: string | undefined;
  private fileDone = false;
  /** Bytes of the updates hashed so far. */
  onHashed?: (bytes: number) => void;

  constructor(d: Digest, size: number) {
    this.id = hashWorker.open(this);
    hashWorker.post({ op: 'start', id: this.id, algorithm: algorithm(d), header: header(d, size) });
  }

  file(path: string, bytes: number): Promise<void> {
    if (bytes === 0) return Promise.resolve();
    hashWorker.post({ op: 'file', id: this.id, path, bytes });
    return this.wait(() => this.fileDone).then(() => undefined);
  }

  update(chunk: Uint8Array): void {
    if (this.failed) return;
    const g = this.group;
    if (g && g.buffer === chunk.buffer && g.offset + g.length === chunk.byteOffset && g.length < SHARED_GROUP) {
      g.length += chunk.length;
      return;
    }
    this.flush();
    this.group = { buffer: chunk.buffer, offset: chunk.byteOffset, length: chunk.length };
  }

  /** Resolves once the hash is at most SHARED_AHEAD bytes behind the reads. */
  ready(): Promise<unknown> | undefined {
    if (this.failed) return Promise.reject(this.failed);
    if (this.group && this.group.length >= SHARED_GROUP) this.flush();
    if (this.posted - this.hashed <= SHARED_AHEAD) return undefined;
    return this.wait(() => this.posted - this.hashed <= SHARED_AHEAD);
  }

  landed(): void {}

  async digest(): Promise<string> {
    this.flush();
    hashWorker.post({ op: 'digest', id: this.id });
    await this.wait(() => this.digestValue !== undefined);
    this.close();
    return this.digestValue!;
  }

  dispose(): void {
    if (this.closed) return;
    hashWorker.post({ op: 'drop', id: this.id });
    this.close();
  }

  onReply(m: SharedReply): void {
    if (m.error !== undefined) return this.fail(new Error(`hashing the download: ${m.error}`));
    if (m.hashed !== undefined) {
      this.hashed += m.hashed;
      this.onHashed?.(this.hashed);
    }
    if (m.file) this.fileDone = true;
    if (m.digest !== undefined) this.digestValue = m.digest;
    if (this.waiter?.until()) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve(undefined);
    }
  }

  fail(e: Error): void {
    this.failed ??= e;
    this.close();
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(e);
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    hashWorker.close(this.id);
  }

  private flush(): void {
    const g = this.group;
    if (!g || this.failed) return;
    this.group = undefined;
    this.posted += g.length;
    if (g.buffer instanceof SharedArrayBuffer) {
      hashWorker.post({ op: 'update', id: this.id, buffer: g.buffer, offset: g.offset, length: g.length });
    } else {
      // Not shared memory (a caller's own buffer): a copy, moved to the worker.
      const copy = new Uint8Array(new Uint8Array(g.buffer, g.offset, g.length));
      hashWorker.post({ op: 'update', id: this.id, buffer: copy.buffer, offset: 0, length: g.length }, [copy.buffer]);
    }
  }

  private wait(until: () => boolean): Promise<unknown> {
    if (this.failed) return Promise.reject(this.failed);
    if (until()) return Promise.resolve();
    return new Promise((resolve, reject) => (this.waiter = { until, resolve, reject }));
  }
}
