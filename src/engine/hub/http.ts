// The hub's HTTP protocol: resolve URLs, the metadata a HEAD returns (commit, etag, size, the CDN
// location of an LFS file), and the mapping of error responses to typed errors. Redirects are
// followed by hand so the first response's headers are kept and the token goes only to the endpoint.
import http from 'node:http';
import https from 'node:https';
import { abortError } from '../errors';
import { directGet, DirectResponse } from './directGet';
import { BadMetadataError, CertificateError, EntryNotFoundError, GatedRepoError, HubError, HubHttpError, RepoNotFoundError } from './errors';

export type FetchFn = typeof fetch;

/** What one file is at one revision, from the hub's headers. */
export interface FileMetadata {
  commit: string;
  /** sha256 of an LFS file (X-Linked-Etag), else the git blob sha1 (ETag); quotes and W/ removed. */
  etag: string;
  size: number;
  /** Where the bytes are: the CDN for an LFS file, else the resolve URL. */
  location: string;
}

export interface RequestContext {
  endpoint: string;
  repo: string;
  revision: string;
  file: string;
  token?: string;
  signal?: AbortSignal;
  fetch?: FetchFn;
  /** Per request, until the response headers (default 10 s, as huggingface_hub). */
  timeoutMs?: number;
  /** How a GET's body is read: into batch buffers from the socket (default), or through node:http (bench/hubThroughput.ts compares). */
  bodyReader?: 'direct' | 'node-http';
  /** Bytes a node:http body may buffer before its socket is paused (default BODY_HIGH_WATER_MARK). */
  bodyHighWaterMark?: number;
  /**
   * Certificate authorities trusted for https requests, in place of Node's (a mirror or proxy with its own
   * CA; the tests' loopback hub). Verification stays on. With it, HEADs go through node:https, which takes
   * a CA per request, rather than fetch.
   */
  ca?: string | Buffer | (string | Buffer)[];
}

/**
 * A node:http body's high-water mark (chunked bodies, and bodyReader 'node-http'). Node's default (16 KiB, the socket's) is below the 64 KiB a socket
 * read delivers, so every read paused the socket and the next read of the body resumed it (a stop and
 * a start of reading per chunk); the download loop drains the body at once, so a larger mark only
 * lets reads continue while it is busy. It stays at one socket read (64 KiB): when the connection drops,
 * what the body still buffers is lost with it, so a 1 MiB mark made a drop at 300 KB lose everything
 * received and the retry start from byte 0 (test/unit/hub.test.ts, 'a drop within one call').
 */
export const BODY_HIGH_WATER_MARK = 64 << 10;

/** A dropped connection, a timeout or a stall: worth retrying, and resuming. */
export class TransientError extends Error {
  /** The CDN refused a link it gave: ask the hub for a new one before retrying. */
  readonly refreshLocation: boolean;
  /** No route or no listener (refused, unknown host): offline, not a hiccup. */
  readonly unreachable: boolean;

  constructor(message: string, o: { refreshLocation?: boolean; unreachable?: boolean } = {}) {
    super(message);
    this.refreshLocation = o.refreshLocation ?? false;
    this.unreachable = o.unreachable ?? false;
    this.name = 'TransientError';
  }
}

const MAX_HOPS = 5;

/** `{endpoint}/{repo}/resolve/{revision}/{file}`, each part quoted. */
export function resolveUrl(endpoint: string, repo: string, revision: string, file: string): string {
  return `${endpoint}/${repo}/resolve/${encodeURIComponent(revision)}/${file.split('/').map(encodeURIComponent).join('/')}`;
}

/** Request headers for a URL: the token only when the URL is on the endpoint's origin. */
export function headersFor(url: string, c: RequestContext, extra: Record<string, string> = {}): Record<string, string> {
  const h: Record<string, string> = { 'user-agent': 'hasten', ...extra };
  if (c.token && new URL(url).origin === new URL(c.endpoint).origin) h.authorization = `Bearer ${c.token}`;
  return h;
}

/** One fetch without following redirects; network failures become TransientError, never the raw cause with headers. */
export async function fetchOnce(url: string, c: RequestContext, init: { method: string; headers: Record<string, string>; signal?: AbortSignal }): Promise<Response> {
  const timeout = AbortSignal.timeout(c.timeoutMs ?? 10_000);
  const signal = init.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
  try {
    if (!c.fetch && c.ca) return await nodeHttpHead(url, c, init.headers, signal);
    return await (c.fetch ?? fetch)(url, { method: init.method, headers: init.headers, redirect: 'manual', signal });
  } catch (err) {
    if (c.signal?.aborted) throw abortError();
    if (timeout.aborted) throw new TransientError(`no answer from ${new URL(url).host} within ${c.timeoutMs ?? 10_000} ms`);
    if (init.signal?.aborted) throw init.signal.reason instanceof Error ? init.signal.reason : new TransientError('stalled');
    throw networkError(err, url);
  }
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH', 'ENETDOWN']);
/** OpenSSL's verification failures as Node names them (tls.connect, node:https, and fetch's cause). */
const UNTRUSTED = /^(DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|CERT_(HAS_EXPIRED|NOT_YET_VALID|UNTRUSTED|REJECTED|SIGNATURE_FAILURE)|ERR_TLS_CERT_ALTNAME_INVALID)$/;

/** A failure to connect: transient (retried), except a certificate that does not verify, which no retry fixes. */
function networkError(err: unknown, url: string): TransientError | CertificateError {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  const code = cause?.code ?? (err as NodeJS.ErrnoException).code;
  if (UNTRUSTED.test(code ?? '')) return new CertificateError(new URL(url).host, cause?.message ?? (err as Error).message, code!);
  return new TransientError(describeNetworkError(err, url), { unreachable: UNREACHABLE.has(code ?? '') });
}

/** "connection refused by 127.0.0.1:9" and the like, from undici's error and its cause. */
export function describeNetworkError(err: unknown, url: string): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  const code = cause?.code ?? (err as NodeJS.ErrnoException).code;
  const host = new URL(url).host;
  if (code === 'ECONNREFUSED') return `connection refused by ${host}`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `cannot resolve ${new URL(url).hostname}`;
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') return `connection to ${host} dropped`;
  return `${cause?.message ?? (err as Error).message ?? String(err)} (${host})`;
}

/** A GET whose body is a Node stream. */
export interface BodyResponse {
  status: number;
  headers: Headers;
  body: AsyncIterable<Buffer>;
  /** Read into batch buffers by directGet (else through node:http). */
  direct: boolean;
  /** Drops the body unread. */
  discard(): void;
  /** The answer as a fetch Response without its body, for responseError. */
  response(): Response;
}

/**
 * GET with the body read straight into batch buffers (directGet.ts): Node's HTTP client allocates a
 * buffer per socket read, which on loopback cost most of the gap to curl. A chunked body, which
 * directGet does not decode, is asked for again through node:http. No redirects followed.
 */
export async function streamGet(url: string, c: RequestContext, headers: Record<string, string>, signal: AbortSignal, batch?: () => Buffer): Promise<BodyResponse> {
  if (c.bodyReader === 'node-http') return nodeHttpGet(url, c, headers, signal);
  let res: DirectResponse;
  try {
    res = await directGet(url, { headers, signal, timeoutMs: c.timeoutMs ?? 10_000, batch, ca: c.ca });
  } catch (err) {
    if (c.signal?.aborted) throw abortError();
    if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new TransientError('stalled');
    throw networkError(err, url);
  }
  if (res.framing === 'chunked') {
    res.discard();
    return nodeHttpGet(url, c, headers, signal);
  }
  const { status, headers: h } = res;
  return { status, headers: h, body: res.body, direct: true, discard: res.discard, response: () => new Response(null, { status: status >= 200 && status <= 599 ? status : 502, headers: h }) };
}

/**
 * GET through node:http(s) rather than fetch: its body streams as Buffers without the WHATWG
 * stream layer, which on loopback left fetch at about half of curl's throughput. No redirects followed.
 */
export function nodeHttpGet(url: string, c: RequestContext, headers: Record<string, string>, signal: AbortSignal): Promise<BodyResponse> {
  const mod = url.startsWith('https:') ? https : http;
  const limit = c.timeoutMs ?? 10_000;
  return new Promise((resolve, reject) => {
    const fail = (err: unknown) => {
      clearTimeout(timer);
      if (c.signal?.aborted) reject(abortError());
      else if (signal.aborted) reject(signal.reason instanceof Error ? signal.reason : new TransientError('stalled'));
      else reject(err instanceof TransientError ? err : networkError(err, url));
    };
    // highWaterMark: a request option since Node 20 (the body's mark), not yet in @types/node's RequestOptions.
    const options: https.RequestOptions & { highWaterMark: number } = { method: 'GET', headers, signal, highWaterMark: c.bodyHighWaterMark ?? BODY_HIGH_WATER_MARK, ...(c.ca ? { ca: c.ca } : {}) };
    const req = mod.request(url, options, (res) => {
      clearTimeout(timer);
      const h = new Headers();
      for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) h.set(k, Array.isArray(v) ? v.join(', ') : v);
      const status = res.statusCode ?? 0;
      resolve({ status, headers: h, body: res, direct: false, discard: () => res.destroy(), response: () => new Response(null, { status: status >= 200 && status <= 599 ? status : 502, headers: h }) });
    });
    const timer = setTimeout(() => req.destroy(new TransientError(`no answer from ${new URL(url).host} within ${limit} ms`)), limit);
    req.on('error', fail);
    req.end();
  });
}

/** A HEAD through node:http(s), for a request context with its own CA (fetch takes none); rejects with the raw error, as fetch would. */
function nodeHttpHead(url: string, c: RequestContext, headers: Record<string, string>, signal: AbortSignal): Promise<Response> {
  const mod = url.startsWith('https:') ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(url, { method: 'HEAD', headers, signal, ...(c.ca ? { ca: c.ca } : {}) }, (res) => {
      const h = new Headers();
      for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) h.set(k, Array.isArray(v) ? v.join(', ') : v);
      const status = res.statusCode ?? 0;
      res.resume();
      resolve(new Response(null, { status: status >= 200 && status <= 599 ? status : 502, headers: h }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** HEAD of a file: its commit, etag, size and location. Follows same-repo redirects (renamed repos). */
export async function fetchMetadata(c: RequestContext): Promise<FileMetadata> {
  let url = resolveUrl(c.endpoint, c.repo, c.revision, c.file);
  for (let hop = 0; hop <= MAX_HOPS; hop++) {
    const res = await fetchOnce(url, c, { method: 'HEAD', headers: headersFor(url, c, { 'accept-encoding': 'identity' }), signal: c.signal });
    if (res.status >= 300 && res.status < 400) {
      const loc = res.headers.get('location');
      if (!loc) throw new BadMetadataError(url, 'a Location header on its redirect');
      const next = new URL(loc, url).href;
      // An LFS file answers with its metadata and a redirect to the CDN; anything else is a rename.
      if (res.headers.get('x-repo-commit')) return metadataOf(res, url, next);
      url = next;
      continue;
    }
    if (!res.ok) throw responseError(res, c);
    return metadataOf(res, url, url);
  }
  throw new HubHttpError(`Too many redirects resolving ${c.repo}/${c.file}.`, 310, false);
}

function metadataOf(res: Response, url: string, location: string): FileMetadata {
  const commit = res.headers.get('x-repo-commit');
  const etag = normaliseEtag(res.headers.get('x-linked-etag') ?? res.headers.get('etag'));
  const size = Number(res.headers.get('x-linked-size') ?? res.headers.get('content-length') ?? NaN);
  if (!commit) throw new BadMetadataError(url, 'X-Repo-Commit');
  if (!etag) throw new BadMetadataError(url, 'ETag / X-Linked-Etag');
  if (!Number.isSafeInteger(size) || size < 0) throw new BadMetadataError(url, 'a size (X-Linked-Size / Content-Length)');
  return { commit, etag, size, location };
}

/** `"abc"` or `W/"abc"` → `abc`; undefined when it is not a safe file name. */
export function normaliseEtag(raw: string | null): string | undefined {
  if (!raw) return undefined;
  const e = raw.trim().replace(/^W\//, '').replace(/^"|"$/g, '');
  return /^[A-Za-z0-9_-]{1,128}$/.test(e) ? e : undefined;
}

/** The typed error of a non-2xx answer (X-Error-Code as the hub sends it, else the status). */
export function responseError(res: Response, c: RequestContext): HubError {
  const code = res.headers.get('x-error-code');
  const hadToken = Boolean(c.token);
  void res.body?.cancel().catch(() => undefined);
  if (code === 'GatedRepo') return new GatedRepoError(c.repo, hadToken, c.endpoint);
  if (code === 'RepoNotFound') return new RepoNotFoundError(c.repo, hadToken, c.endpoint);
  if (code === 'RevisionNotFound') return new EntryNotFoundError('revision', c.repo, c.revision, c.file);
  if (code === 'EntryNotFound' || res.status === 404) return new EntryNotFoundError('file', c.repo, c.revision, c.file);
  if (res.status === 401 || res.status === 403) return new GatedRepoError(c.repo, hadToken, c.endpoint);
  const retryable = res.status >= 500 || res.status === 429 || res.status === 408;
  return new HubHttpError(`${c.endpoint} answered ${res.status} for ${c.repo}/${c.file}.`, res.status, retryable);
}

/** Whether an error is worth another attempt (after a backoff). */
export function isRetryable(err: unknown): boolean {
  return err instanceof TransientError || (err instanceof HubHttpError && err.retryable);
}
