// The digest of a download as its bytes arrive. sha256 costs about as much CPU as receiving and
// writing the bytes on loopback (client CPU per 256 MB: ~0.3 s hashing, ~0.35 s the rest; curl ~0.3 s
// in all), and hashing each chunk on the main thread between socket reads put that cost in series
// with the transfer. A large file is hashed in a worker thread instead, which reads the file back
// from the page cache as each batch lands on disk (handing it 4 MB copies cost the main thread
// another copy and a transfer per batch), so the hash runs beside the reads; a small file is hashed
// inline, chunk by chunk, where a worker's start-up would cost more than it saves.
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
}

const algorithm = (d: Digest) => (d === 'sha256' ? 'sha256' : 'sha1');
/** git's blob sha1 covers a header with the size before the bytes. */
const header = (d: Digest, size: number) => (d === 'git-sha1' ? `blob ${size}\0` : '');

/** A hasher for the `size` bytes of `file`, of which `fresh` are still to arrive; `inline` for a body read into batch buffers. */
export function newHasher(d: Digest, size: number, fresh: number, file: string, inline = false): Hasher {
  if (d === 'none') return { file: async () => {}, update() {}, landed() {}, digest: async () => '', dispose() {} };
  return fresh >= WORKER_FROM_BYTES && !inline ? new WorkerHasher(d, size, file) : new InlineHasher(d, size);
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
