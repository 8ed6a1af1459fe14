// Fetches files of a hub repo into the shared cache, the way huggingface_hub's hf_hub_download
// does: metadata, cache hit check, download to blobs/<etag>.incomplete, move to blobs/<etag>, link
// snapshots/<commit>/<path>, record refs/<revision>. Beyond it: resume with Range, a checksum
// against the etag (discard and retry once), retries with backoff, and a free-space check first.
import fs from 'node:fs';
import path from 'node:path';
import { abortError, isAbortError } from '../errors';
import { ChecksumError, DiskFullError, EntryNotFoundError, HubError, HubHttpError, OfflineError } from './errors';
import { FetchFn, fetchMetadata, FileMetadata, isRetryable, RequestContext, TransientError } from './http';
import { checkRepoPath, hubCacheDir, isCommit, RepoCache, resolveEndpoint } from './layout';
import { withLock } from './lock';
import { digestOf, transfer } from './transfer';

export interface DownloadOptions {
  repo: string;
  /** Branch, tag or commit (default "main"). */
  revision?: string;
  /** Resolved endpoint; default: HF_ENDPOINT, else the public hub (see resolveEndpoint). */
  endpoint?: string;
  /** Sent as a bearer token to the endpoint only; never logged or put in an error. */
  token?: string;
  /** Default: HF_HUB_CACHE / HF_HOME / ~/.cache/huggingface/hub. */
  cacheDir?: string;
  signal?: AbortSignal;
  onProgress?: (p: DownloadProgress) => void;
  /** Attempts after the first, for drops, stalls, timeouts, 5xx and 429 (default 5). */
  retries?: number;
  /** First backoff; doubles per attempt up to 30 s, with jitter (default 1,000 ms). */
  backoffMs?: number;
  /** An attempt that receives no bytes for this long is dropped and resumed (default 30 s). */
  stallMs?: number;
  /** Per request, until headers arrive (default 10 s). */
  timeoutMs?: number;
  /** How a body is read: into batch buffers from the socket (default), or through node:http (bench/hubThroughput.ts compares). */
  bodyReader?: 'direct' | 'node-http';
  /** Cache only, no network (default: HF_HUB_OFFLINE). */
  offline?: boolean;
  /** Certificate authorities trusted for https, in place of Node's (verification stays on): a mirror with its own CA; the tests' loopback hub. */
  ca?: string | Buffer | (string | Buffer)[];
  /** Free bytes in a folder (default fs.statfs); for tests. */
  freeBytes?: (dir: string) => Promise<number>;
  fetch?: FetchFn;
}

/** Progress over all the files of one call. `done` counts cached and resumed bytes; `received` only the network's. */
export interface DownloadProgress {
  file: string;
  done: number;
  total: number;
  received: number;
}

export interface DownloadedFile {
  file: string;
  /** snapshots/<commit>/<file>. */
  path: string;
  commit: string;
  etag: string;
  size: number;
  /** Already in the cache (from this or any other tool): nothing transferred. */
  cached: boolean;
  /** Bytes received over the network for this file (a resume receives only the missing ones). */
  received: number;
}

export interface Snapshot {
  /** snapshots/<commit>: a folder in Hugging Face layout. */
  dir: string;
  commit: string;
  files: DownloadedFile[];
}

/** Downloads one file (see downloadFiles). */
export async function downloadFile(file: string, o: DownloadOptions): Promise<DownloadedFile> {
  return (await downloadFiles([file], o)).files[0]!;
}

/**
 * Downloads files of one repo at one commit (the revision is resolved once, by the first file),
 * checking free space for all of them first. Files under `optional` that the repo lacks are skipped.
 */
export async function downloadFiles(files: readonly string[], o: DownloadOptions, optional: readonly string[] = []): Promise<Snapshot> {
  const all = [...files, ...optional];
  if (all.length === 0) throw new HubError('file-not-found', 'No files to download.', 'Name at least one file.');
  all.forEach(checkRepoPath);
  const ctx = contextOf(o);
  const cache = new RepoCache(o.cacheDir ?? hubCacheDir(), o.repo);
  const local = localSnapshot(cache, ctx.revision, files, optional);
  if (local && (isCommit(ctx.revision) || offline(o))) return local; // a commit's files never change
  if (offline(o)) throw new OfflineError(ctx.endpoint, o.repo, firstMissing(cache, ctx.revision, all), 'HF_HUB_OFFLINE is set');

  let metas: (FileMetadata | undefined)[];
  try {
    metas = await resolveAll(ctx, all, files.length, o);
  } catch (err) {
    if (!(err instanceof TransientError)) throw err;
    if (local) return local; // offline, but everything is cached for this revision
    throw new OfflineError(ctx.endpoint, o.repo, firstMissing(cache, ctx.revision, all), err.message);
  }
  const commit = metas.find((m) => m)!.commit;
  // Recorded at once, as huggingface_hub does: files that land are then found offline even if a later one fails.
  cache.writeRef(ctx.revision, commit);
  const wanted = all.map((file, i) => ({ file, meta: metas[i] })).filter((w): w is { file: string; meta: FileMetadata } => Boolean(w.meta));
  await checkFreeSpace(cache, wanted.map((w) => w.meta), o);

  const total = wanted.reduce((s, w) => s + w.meta.size, 0);
  const tally = { done: 0, received: 0 };
  const out: DownloadedFile[] = [];
  for (const { file, meta } of wanted) {
    const before = { ...tally };
    const report = (fileDone: number, fileReceived: number) => {
      tally.done = before.done + fileDone;
      tally.received = before.received + fileReceived;
      o.onProgress?.({ file, done: tally.done, total, received: tally.received });
    };
    try {
      const lock = cache.lock(meta.etag);
      fs.mkdirSync(path.dirname(lock), { recursive: true });
      out.push(await withLock(lock, () => fetchBlob(cache, file, meta, ctx, o, report), o.signal));
    } catch (err) {
      if (!(err instanceof TransientError)) throw err;
      throw new HubHttpError(`Downloading ${o.repo}/${file} failed, retries included (${err.message}); the partial file is kept and the next try resumes it.`, 0, true);
    }
    report(meta.size, out.at(-1)!.received);
  }
  return { dir: cache.snapshotDir(commit), commit, files: out };
}

function contextOf(o: DownloadOptions): RequestContext & { revision: string } {
  return { endpoint: o.endpoint ?? resolveEndpoint(undefined), repo: o.repo, revision: o.revision ?? 'main', file: '', token: o.token, signal: o.signal, fetch: o.fetch, timeoutMs: o.timeoutMs, ...(o.ca ? { ca: o.ca } : {}), ...(o.bodyReader ? { bodyReader: o.bodyReader } : {}) };
}

function offline(o: DownloadOptions): boolean {
  return o.offline ?? /^(1|on|yes|true)$/i.test(process.env.HF_HUB_OFFLINE ?? '');
}

/** Every required file (and whichever optional ones are there) from the cache, or undefined. */
function localSnapshot(cache: RepoCache, revision: string, files: readonly string[], optional: readonly string[]): Snapshot | undefined {
  const found: DownloadedFile[] = [];
  for (const file of [...files, ...optional]) {
    const hit = cache.cachedFile(revision, file);
    if (!hit) {
      if (files.includes(file)) return undefined;
      continue;
    }
    const size = fs.statSync(hit.path).size;
    found.push({ file, path: hit.path, commit: hit.commit, etag: path.basename(fs.realpathSync(hit.path)), size, cached: true, received: 0 });
  }
  if (found.length === 0) return undefined;
  const commit = found[0]!.commit;
  return { dir: cache.snapshotDir(commit), commit, files: found };
}

function firstMissing(cache: RepoCache, revision: string, files: readonly string[]): string {
  return files.find((f) => !cache.cachedFile(revision, f)) ?? files[0]!;
}

/** Metadata of every file, the first at the revision and the rest at the commit it resolved to. */
async function resolveAll(ctx: RequestContext & { revision: string }, files: readonly string[], required: number, o: DownloadOptions): Promise<(FileMetadata | undefined)[]> {
  const metas: (FileMetadata | undefined)[] = [];
  let revision = ctx.revision;
  for (let i = 0; i < files.length; i++) {
    try {
      const m = await withRetries(() => fetchMetadata({ ...ctx, revision, file: files[i]! }), o);
      metas.push(m);
      revision = m.commit;
    } catch (err) {
      if (i >= required && err instanceof EntryNotFoundError && err.what === 'file') metas.push(undefined);
      else throw err;
    }
  }
  if (!metas.some((m) => m)) throw new EntryNotFoundError('file', ctx.repo, ctx.revision, files[0]!);
  return metas;
}

async function checkFreeSpace(cache: RepoCache, metas: FileMetadata[], o: DownloadOptions): Promise<void> {
  const blobs = path.join(cache.dir, 'blobs');
  fs.mkdirSync(blobs, { recursive: true });
  let needed = 0;
  for (const m of new Map(metas.map((x) => [x.etag, x])).values()) {
    if (fs.existsSync(cache.blob(m.etag))) continue;
    let have = 0;
    try {
      have = Math.min(fs.statSync(cache.incomplete(m.etag)).size, m.size);
    } catch {
      // nothing yet
    }
    needed += m.size - have;
  }
  if (needed === 0) return;
  const free = await (o.freeBytes ?? statfsFree)(blobs);
  if (free < needed) throw new DiskFullError(blobs, needed, free);
}

async function statfsFree(dir: string): Promise<number> {
  const s = await fs.promises.statfs(dir);
  return s.bavail * s.bsize;
}

/** The blob of one file, from the cache or the network, then its snapshot link. */
async function fetchBlob(cache: RepoCache, file: string, meta: FileMetadata, ctx: RequestContext, o: DownloadOptions, report: (done: number, received: number) => void): Promise<DownloadedFile> {
  const blob = cache.blob(meta.etag);
  const result = (cached: boolean, received: number): DownloadedFile => ({
    file, path: cache.link(meta.commit, file, meta.etag), commit: meta.commit, etag: meta.etag, size: meta.size, cached, received,
  });
  if (fs.existsSync(blob) && fs.statSync(blob).size === meta.size) return result(true, 0);
  const digest = digestOf(meta.etag);
  const incomplete = cache.incomplete(meta.etag);
  let received = 0;
  let location = meta.location;
  let stale = false;
  for (let checksumFailures = 0; ; ) {
    const { hash } = await withRetries(async () => {
      if (stale) location = await freshLocation(meta, { ...ctx, revision: meta.commit, file });
      let fresh = 0;
      try {
        return await transfer({
          url: location, context: { ...ctx, file }, incomplete, size: meta.size, digest, stallMs: o.stallMs ?? 30_000,
          onBytes: (n, have) => {
            fresh = n;
            report(have, received + n);
          },
        });
      } catch (err) {
        stale = err instanceof TransientError && err.refreshLocation;
        throw err;
      } finally {
        received += fresh;
      }
    }, o);
    if (digest === 'none' || hash === meta.etag) break;
    fs.rmSync(incomplete, { force: true });
    if (++checksumFailures >= 2) throw new ChecksumError(o.repo, file, meta.etag, hash);
  }
  fs.renameSync(incomplete, blob);
  return result(false, received);
}

/** A new CDN link for the same bytes (signed links expire); the etag must not have changed. */
async function freshLocation(meta: FileMetadata, c: RequestContext): Promise<string> {
  const m = await fetchMetadata(c);
  if (m.etag !== meta.etag || m.size !== meta.size) throw new HubHttpError(`${c.repo}/${c.file} changed on the hub during the download.`, 0, true);
  return m.location;
}

/** Runs `fn` again after a backoff while it fails with a retryable error. */
async function withRetries<T>(fn: () => Promise<T>, o: DownloadOptions): Promise<T> {
  const retries = o.retries ?? 5;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (isAbortError(err) || !isRetryable(err) || attempt >= retries) throw err;
      // Unreachable twice in a row is offline: the cache may answer, no point waiting half a minute.
      if (err instanceof TransientError && err.unreachable && attempt >= 1) throw err;
      const base = Math.min((o.backoffMs ?? 1000) * 2 ** attempt, 30_000);
      await sleep(base * (0.75 + Math.random() / 2), o.signal);
    }
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError());
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(abortError());
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
