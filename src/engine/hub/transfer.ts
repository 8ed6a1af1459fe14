// One attempt at the bytes of one file: appends what `blobs/<etag>.incomplete` lacks, asking for
// it with `Range`, and hashes as it writes (the partial already there is hashed from disk first),
// so a resumed download transfers only the missing bytes and is still checked end to end.
import fs from 'node:fs';
import { abortError } from '../errors';
import { DiskFullError } from './errors';
import { Digest, Hasher, newHasher, SharedHasher } from './hasher';
import { DIRECT_BATCH } from './directGet';
import { BodyResponse, headersFor, RequestContext, responseError, streamGet, TransientError } from './http';

export type { Digest };

export function digestOf(etag: string): Digest {
  if (/^[0-9a-f]{64}$/.test(etag)) return 'sha256';
  if (/^[0-9a-f]{40}$/.test(etag)) return 'git-sha1';
  return 'none';
}

export interface TransferOptions {
  url: string;
  context: RequestContext;
  incomplete: string;
  size: number;
  digest: Digest;
  /** No bytes for this long aborts the attempt as a stall (a retry resumes). */
  stallMs: number;
  /** Bytes received in this attempt so far, and the file's size once they are written. */
  onBytes?: (fresh: number, have: number) => void;
}

export interface TransferResult {
  /** Hex digest of the whole file ('' for Digest 'none'). */
  hash: string;
  /** Bytes received over the network in this attempt. */
  received: number;
}

const MAX_HOPS = 5;
const BATCH = 4 << 20;

/** Completes `incomplete` up to `size` bytes from `url`; throws TransientError on a drop, stall or short body. */
export async function transfer(o: TransferOptions): Promise<TransferResult> {
  let have = partialSize(o.incomplete);
  if (have > o.size) {
    fs.truncateSync(o.incomplete, 0);
    have = 0;
  }
  if (have === o.size) return { hash: await hashFile(o.incomplete, o.size, o.digest), received: 0 };
  const stall = new AbortController();
  const signal = o.context.signal ? AbortSignal.any([o.context.signal, stall.signal]) : stall.signal;
  const pool = new BatchPool();
  const res = await get(o, have, signal, pool.take);
  if (res.status === 200 && have > 0) have = 0; // the server ignored Range: start over
  else if (res.status === 206 && rangeStart(res) !== have) throw new TransientError(`the server answered Range bytes=${have}- with ${res.headers.get('content-range')}`);
  const hash = newHasher(o.digest, o.size, o.size - have, o.incomplete, res.direct);
  try {
    return await receive(o, res, have, hash, stall, pool);
  } finally {
    hash.dispose();
  }
}

/** Writes and hashes the body after the `have` bytes already on disk. */
async function receive(o: TransferOptions, res: BodyResponse, have: number, hash: Hasher, stall: AbortController, pool: BatchPool): Promise<TransferResult> {
  if (have > 0) await hash.file(o.incomplete, have);
  // A batch buffer is free once its bytes are on disk and, for the shared worker, hashed.
  let onDisk = have;
  let hashedTo = Infinity;
  if (hash instanceof SharedHasher) {
    hashedTo = have;
    hash.onHashed = (n) => pool.landed(Math.min(onDisk, (hashedTo = have + n)));
  }
  const out = new BatchWriter(await fs.promises.open(o.incomplete, have > 0 ? 'r+' : 'w'), have, (end) => {
    hash.landed(end);
    pool.landed(Math.min((onDisk = end), hashedTo));
  });
  let last = Date.now();
  const timer = setInterval(() => {
    if (Date.now() - last > o.stallMs) stall.abort(new TransientError(`no bytes for ${o.stallMs} ms`));
  }, Math.max(10, Math.min(1000, o.stallMs / 4)));
  try {
    for await (const value of res.body) {
      last = Date.now();
      if (out.end + value.length > o.size) throw new TransientError(`the server sent more than the ${o.size} bytes it announced`);
      hash.update(value);
      pool.pushed(value, out.end + value.length);
      await out.push(value);
      await hash.ready?.();
      // Progress as bytes arrive (a slow link would otherwise move in 4 MB steps).
      o.onBytes?.(out.end - have, out.end);
    }
    await out.drain();
    if (out.written !== o.size) throw new TransientError(`the body ended at ${out.written} of ${o.size} bytes`);
  } catch (err) {
    // Keep what arrived: the next attempt resumes after it.
    const diskErr = await out.drain().then(() => undefined, (e: unknown) => e);
    const code = (diskErr as NodeJS.ErrnoException | undefined)?.code ?? (err as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC') throw new DiskFullError(o.incomplete, o.size - out.written, 0);
    if (o.context.signal?.aborted) throw abortError();
    if (stall.signal.aborted) throw stall.signal.reason as Error;
    if (err instanceof TransientError) throw err;
    throw new TransientError(`connection dropped after ${out.written} of ${o.size} bytes (${(err as Error).message})`);
  } finally {
    clearInterval(timer);
    await out.close();
  }
  return { hash: await hash.digest(), received: out.written - have };
}

/**
 * Appends chunks in batches of ~4 MB with one write in flight while the next batch is read (a
 * write per 64 KB chunk cost about a third of the throughput). `written` counts landed bytes.
 */
class BatchWriter {
  private batch: Uint8Array[] = [];
  private batchBytes = 0;
  private pending: Promise<void> = Promise.resolve();
  /** A failed write (ENOSPC...), kept so that no rejection goes unhandled, and thrown at the next flush. */
  private failed: unknown;
  /** Bytes on disk. */
  written: number;
  /** Bytes on disk, in flight and batched. */
  end: number;

  constructor(private readonly fh: fs.promises.FileHandle, at: number, private readonly onLanded: (end: number) => void) {
    this.written = at;
    this.end = at;
  }

  async push(chunk: Uint8Array): Promise<void> {
    this.batch.push(chunk);
    this.batchBytes += chunk.length;
    this.end += chunk.length;
    if (this.batchBytes >= BATCH) await this.flush();
  }

  /** Writes everything batched and waits for it. */
  async drain(): Promise<void> {
    await this.flush();
    await this.pending;
    if (this.failed) throw this.failed;
  }

  close(): Promise<void> {
    return this.fh.close();
  }

  private async flush(): Promise<void> {
    await this.pending;
    if (this.failed) throw this.failed;
    if (this.batchBytes === 0) return;
    // writev: the chunks as they came, no copy into one buffer.
    const chunks = this.batch;
    const bytes = this.batchBytes;
    const at = this.written;
    this.batch = [];
    this.batchBytes = 0;
    this.pending = this.fh.writev(chunks, at)
      .then((r) => {
        if (r.bytesWritten !== bytes) throw new Error(`short write: ${r.bytesWritten} of ${bytes} bytes`);
        this.written = at + bytes;
        this.onLanded(this.written);
      })
      .catch((err: unknown) => {
        this.failed = err;
      });
  }
}

/**
 * directGet's batch buffers, used again once every byte read into them has landed on disk: a fresh
 * 4 MiB buffer per batch cost its pages' faults, 0.12-0.18 CPU s per 256 MB (scratch, load 4).
 * A buffer is done when a view of another one follows its last view (directGet never reads into a
 * buffer it has moved on from), and free when the file has landed up to that last view's end.
 */
export class BatchPool {
  private readonly free: Buffer[] = [];
  private readonly ours = new Map<ArrayBufferLike, Buffer>();
  /** Buffers moved on from, each with the file offset its last view ends at, in file order. */
  private readonly done: { buffer: Buffer; end: number }[] = [];
  private current: { buffer: Buffer; end: number } | undefined;

  readonly take = (): Buffer => {
    // Shared memory, so that the hashing worker reads the bytes where they are.
    const b = this.free.pop() ?? Buffer.from(new SharedArrayBuffer(DIRECT_BATCH));
    this.ours.set(b.buffer, b);
    return b;
  };

  /** A view about to be written so that it ends at file offset `end`. */
  pushed(view: Uint8Array, end: number): void {
    const buffer = this.ours.get(view.buffer);
    if (!buffer) return; // not ours (node:http)
    if (this.current && this.current.buffer !== buffer) this.done.push(this.current);
    this.current = { buffer, end };
  }

  /** The file is on disk up to `written`. */
  landed(written: number): void {
    while (this.done.length > 0 && this.done[0]!.end <= written) this.free.push(this.done.shift()!.buffer);
  }
}

async function get(o: TransferOptions, have: number, signal: AbortSignal, batch: () => Buffer): Promise<BodyResponse> {
  let url = o.url;
  for (let hop = 0; hop <= MAX_HOPS; hop++) {
    const extra: Record<string, string> = { 'accept-encoding': 'identity' };
    if (have > 0) extra.range = `bytes=${have}-`;
    const res = await streamGet(url, o.context, headersFor(url, o.context, extra), signal, batch);
    if (res.status >= 300 && res.status < 400 && res.headers.get('location')) {
      res.discard();
      url = new URL(res.headers.get('location')!, url).href;
      continue;
    }
    if (res.status === 416) {
      res.discard();
      // Our partial is not a prefix the server recognises: start over.
      fs.truncateSync(o.incomplete, 0);
      throw new TransientError('the server refused the resume range');
    }
    if (res.status !== 200 && res.status !== 206) {
      if (new URL(url).origin !== new URL(o.context.endpoint).origin && res.status >= 400 && res.status < 500) {
        res.discard();
        throw new TransientError(`the CDN answered ${res.status} (its link may have expired)`, { refreshLocation: true });
      }
      res.discard();
      throw responseError(res.response(), o.context);
    }
    return res;
  }
  throw new TransientError('too many redirects');
}

function rangeStart(res: BodyResponse): number {
  const m = /^bytes (\d+)-/.exec(res.headers.get('content-range') ?? '');
  return m ? Number(m[1]) : -1;
}

function partialSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}

/** The digest of a whole file on disk ('' for Digest 'none'). */
export async function hashFile(file: string, size: number, d: Digest): Promise<string> {
  const hash = newHasher(d, size, 0, file);
  await hash.file(file, size);
  return hash.digest();
}
