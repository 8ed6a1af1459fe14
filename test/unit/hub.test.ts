// The downloader against a loopback fake hub: the huggingface_hub cache layout, cache hits from
// other tools, resume with Range, checksums, cancellation, free space, gated repos, offline, 404,
// retries on drops, stalls and 5xx, and that the token never reaches the CDN or an error message.
import { afterEach, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {
  ChecksumError, DiskFullError, downloadFile, DownloadOptions, downloadFiles, EntryNotFoundError, GatedRepoError, HubError,
  defaultToken, HubHttpError, hubCacheDir, OfflineError, RepoCache, RepoNotFoundError, resolveEndpoint,
} from '../../src/engine/hub';
import { DIRECT_BATCH, directGet } from '../../src/engine/hub/directGet';
import { BODY_HIGH_WATER_MARK, nodeHttpGet, resolveUrl, streamGet } from '../../src/engine/hub/http';
import { BatchPool } from '../../src/engine/hub/transfer';
import { FakeHub, FakeRepo, startFakeHub, tinyCheckpointRepos } from './helpers/fakeHub';
import { rejects } from './helpers/rejects';

const QWEN = 'fake-org/tiny-qwen2';
const LLAMA = 'fake-org/tiny-llama';
const GATED = 'fake-org/gated';
const NESTED = 'fake-org/nested';
const WEIGHTS = 'model.safetensors';
const CHECKPOINT = ['config.json', WEIGHTS, 'tokenizer.json', 'tokenizer_config.json'];

let repos: FakeRepo[];
let hub: FakeHub;
let cacheDir: string;

before(() => {
  repos = tinyCheckpointRepos();
  repos.push({ id: NESTED, files: { 'config.json': Buffer.from('{}\n'), 'onnx/model.onnx': Buffer.alloc(5000, 3), 'onnx/sub/extra.json': Buffer.from('[1]\n') } });
  repos.push({ id: GATED, gated: true, files: { 'config.json': Buffer.from('{"model_type":"llama"}\n'), [WEIGHTS]: Buffer.alloc(4096, 7) } });
});

beforeEach(async () => {
  hub = await startFakeHub(repos, { lifetimeMs: 30_000 });
  cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hasten-hub-'));
});

afterEach(async () => {
  await hub.close();
  fs.rmSync(cacheDir, { recursive: true, force: true });
});

const opts = (o: Partial<DownloadOptions> = {}): DownloadOptions => ({
  repo: QWEN, endpoint: hub.url, cacheDir, retries: 0, backoffMs: 1, stallMs: 5000, timeoutMs: 5000, offline: false, ...o,
});
const served = (repo: string, file: string) => repos.find((r) => r.id === repo)!.files[file]!;
const sizeOf = (repo: string, file: string) => served(repo, file).length;
const gets = (server: 'hub' | 'cdn') => hub.requests.filter((r) => r.server === server && r.method === 'GET');
const blobsDir = (repo: string) => path.join(new RepoCache(cacheDir, repo).dir, 'blobs');
const incompletes = (repo: string) => fs.readdirSync(blobsDir(repo)).filter((f) => f.endsWith('.incomplete'));

describe('hub cache layout', () => {
  test('a checkpoint lands as huggingface_hub lays it out: refs/main holds the commit, snapshots link to blobs named by etag', async () => {
    const snap = await downloadFiles(CHECKPOINT, opts());
    const cache = new RepoCache(cacheDir, QWEN);
    const commit = hub.commitOf(QWEN);
    assert.equal(snap.commit, commit);
    assert.equal(snap.dir, path.join(cacheDir, 'models--fake-org--tiny-qwen2', 'snapshots', commit));
    assert.equal(fs.readFileSync(path.join(cache.dir, 'refs', 'main'), 'utf8'), commit);
    const sha = hub.sha256(QWEN, WEIGHTS);
    const link = path.join(snap.dir, WEIGHTS);
    assert.ok(fs.lstatSync(link).isSymbolicLink());
    assert.equal(fs.readlinkSync(link), path.join('..', '..', 'blobs', sha));
    const gitSha = createHash('sha1').update(`blob ${sizeOf(QWEN, 'tokenizer.json')}\0`).update(served(QWEN, 'tokenizer.json')).digest('hex');
    assert.equal(fs.readlinkSync(path.join(snap.dir, 'tokenizer.json')), path.join('..', '..', 'blobs', gitSha), 'non-LFS files are named by their git blob sha1');
    for (const f of CHECKPOINT) assert.ok(fs.readFileSync(path.join(snap.dir, f)).equals(served(QWEN, f)), f);
    assert.deepEqual(incompletes(QWEN), []);
    assert.deepEqual(snap.files.map((f) => [f.file, f.cached, f.received]), CHECKPOINT.map((f) => [f, false, sizeOf(QWEN, f)]));
    // LFS files came from the CDN (another origin), the rest from the hub.
    assert.deepEqual(gets('cdn').map((r) => r.path), [`/blobs/${sha}`]);
  });

  test('a file another tool already put in the cache is found without downloading it', async () => {
    // Lay the file out by hand as huggingface_hub would.
    const commit = hub.commitOf(QWEN);
    const sha = hub.sha256(QWEN, WEIGHTS);
    const repoDir = path.join(cacheDir, 'models--fake-org--tiny-qwen2');
    fs.mkdirSync(path.join(repoDir, 'blobs'), { recursive: true });
    fs.mkdirSync(path.join(repoDir, 'snapshots', commit), { recursive: true });
    fs.mkdirSync(path.join(repoDir, 'refs'), { recursive: true });
    fs.writeFileSync(path.join(repoDir, 'blobs', sha), served(QWEN, WEIGHTS));
    fs.symlinkSync(`../../blobs/${sha}`, path.join(repoDir, 'snapshots', commit, WEIGHTS));
    fs.writeFileSync(path.join(repoDir, 'refs', 'main'), commit);

    const got = await downloadFile(WEIGHTS, opts());
    assert.equal(got.cached, true);
    assert.equal(got.received, 0);
    assert.equal(got.path, path.join(repoDir, 'snapshots', commit, WEIGHTS));
    assert.equal(gets('hub').length + gets('cdn').length, 0, 'only a HEAD, no GET');
    assert.equal(hub.bytesSent(QWEN, WEIGHTS), 0);

    // At the commit itself, nothing is asked of the network at all.
    hub.requests.length = 0;
    const again = await downloadFile(WEIGHTS, opts({ revision: commit }));
    assert.equal(again.cached, true);
    assert.equal(hub.requests.length, 0);
  });

  test('files in folders link back to the blobs with as many ../ as they are deep', async () => {
    const snap = await downloadFiles(['onnx/model.onnx', 'onnx/sub/extra.json'], opts({ repo: NESTED }));
    const sha = createHash('sha256').update(served(NESTED, 'onnx/model.onnx')).digest('hex');
    assert.equal(fs.readlinkSync(path.join(snap.dir, 'onnx', 'model.onnx')), path.join('..', '..', '..', 'blobs', sha));
    assert.match(fs.readlinkSync(path.join(snap.dir, 'onnx', 'sub', 'extra.json')), /^\.\.\/\.\.\/\.\.\/\.\.\/blobs\/[0-9a-f]{40}$/);
    assert.ok(fs.readFileSync(path.join(snap.dir, 'onnx', 'sub', 'extra.json')).equals(served(NESTED, 'onnx/sub/extra.json')));
  });

  test('a blob already present under another revision is linked, not downloaded', async () => {
    await downloadFile(WEIGHTS, opts());
    const cache = new RepoCache(cacheDir, QWEN);
    fs.rmSync(cache.snapshotDir(hub.commitOf(QWEN)), { recursive: true });
    const before = hub.bytesSent(QWEN, WEIGHTS);
    const got = await downloadFile(WEIGHTS, opts());
    assert.equal(got.cached, true);
    assert.equal(hub.bytesSent(QWEN, WEIGHTS), before);
    assert.ok(fs.lstatSync(got.path).isSymbolicLink());
  });
});

describe('hub download: resume, checksum, cancellation', () => {
  test('a dropped connection leaves the partial, and the next download transfers only the missing bytes', async () => {
    const size = sizeOf(QWEN, WEIGHTS);
    const dropAt = 1_000_003;
    hub.fault(QWEN, WEIGHTS, { dropAt });
    const err = await rejects(downloadFile(WEIGHTS, opts()), HubHttpError);
    assert.match(err.message, /partial file is kept/);
    const partial = path.join(blobsDir(QWEN), `${hub.sha256(QWEN, WEIGHTS)}.incomplete`);
    const kept = fs.statSync(partial).size;
    assert.ok(kept > 0 && kept <= dropAt, `kept ${kept}`);
    assert.equal(fs.readFileSync(new RepoCache(cacheDir, QWEN).refFile('main'), 'utf8'), hub.commitOf(QWEN), 'refs/main is written with the metadata');

    const got = await downloadFile(WEIGHTS, opts());
    const resumed = gets('cdn').at(-1)!;
    assert.equal(resumed.range, `bytes=${kept}-`);
    assert.equal(resumed.bytes, size - kept, 'the resumed response carries only the missing bytes');
    assert.equal(got.received, size - kept);
    assert.ok(fs.readFileSync(got.path).equals(served(QWEN, WEIGHTS)));
    assert.deepEqual(incompletes(QWEN), []);
  });

  test('a server that ignores Range: the partial is replaced by the whole file', async () => {
    hub.fault(QWEN, WEIGHTS, { dropAt: 500_000 });
    await rejects(downloadFile(WEIGHTS, opts()), HubHttpError);
    hub.fault(QWEN, WEIGHTS, { ignoreRange: true });
    const got = await downloadFile(WEIGHTS, opts());
    const last = gets('cdn').at(-1)!;
    assert.match(last.range ?? '', /^bytes=\d+-$/);
    assert.equal(last.bytes, sizeOf(QWEN, WEIGHTS));
    assert.equal(got.received, sizeOf(QWEN, WEIGHTS));
    assert.ok(fs.readFileSync(got.path).equals(served(QWEN, WEIGHTS)));
  });

  test('a drop within one call is retried with backoff and resumed', async () => {
    hub.fault(QWEN, WEIGHTS, { dropAt: 300_000, times: 2 });
    const got = await downloadFile(WEIGHTS, opts({ retries: 3 }));
    const cdn = gets('cdn');
    assert.equal(cdn.length, 3);
    assert.equal(cdn[0]!.range, undefined);
    for (const r of cdn.slice(1)) assert.match(r.range ?? '', /^bytes=[1-9]\d*-$/);
    assert.equal(got.received, sizeOf(QWEN, WEIGHTS));
    assert.ok(fs.readFileSync(got.path).equals(served(QWEN, WEIGHTS)));
  });

  test('a wrong byte: the file is discarded and downloaded once more', async () => {
    const size = sizeOf(QWEN, WEIGHTS);
    hub.fault(QWEN, WEIGHTS, { corruptAt: 12_345 });
    const got = await downloadFile(WEIGHTS, opts());
    assert.ok(fs.readFileSync(got.path).equals(served(QWEN, WEIGHTS)));
    assert.equal(hub.bytesSent(QWEN, WEIGHTS), 2 * size);
    assert.deepEqual(gets('cdn').map((r) => r.range), [undefined, undefined], 'the retry starts from scratch');
  });

  test('a wrong byte twice is a ChecksumError, and nothing is left in the cache', async () => {
    hub.fault(QWEN, WEIGHTS, { corruptAt: 12_345, times: 2 });
    const err = await rejects(downloadFile(WEIGHTS, opts()), ChecksumError);
    assert.equal(err.kind, 'checksum');
    assert.equal(err.expected, hub.sha256(QWEN, WEIGHTS));
    assert.match(err.message, /failed its checksum twice/);
    assert.deepEqual(fs.readdirSync(blobsDir(QWEN)), []);
    assert.equal(fs.existsSync(new RepoCache(cacheDir, QWEN).snapshotFile(hub.commitOf(QWEN), WEIGHTS)), false);
  });

  test('a wrong byte in a non-LFS file is caught by its git blob sha1', async () => {
    hub.fault(QWEN, 'tokenizer.json', { corruptAt: 100, times: 2 });
    await rejects(downloadFile('tokenizer.json', opts()), ChecksumError);
  });

  test('cancelling keeps the partial file, and resuming it fetches the rest', async () => {
    const size = sizeOf(QWEN, WEIGHTS);
    hub.fault(QWEN, WEIGHTS, { bytesPerSecond: 4_000_000 });
    const ac = new AbortController();
    const err = await rejects(downloadFile(WEIGHTS, opts({ signal: ac.signal, onProgress: (p) => p.done > 400_000 && ac.abort() })), Error);
    assert.equal(err.name, 'AbortError');
    const partial = path.join(blobsDir(QWEN), `${hub.sha256(QWEN, WEIGHTS)}.incomplete`);
    const kept = fs.statSync(partial).size;
    assert.ok(kept > 400_000 && kept < size, `kept ${kept}`);
    const got = await downloadFile(WEIGHTS, opts());
    assert.equal(got.received, size - kept);
    assert.ok(fs.readFileSync(got.path).equals(served(QWEN, WEIGHTS)));
  });

  test('progress counts up to the total over all files', async () => {
    const seen: number[] = [];
    let total = 0;
    await downloadFiles(CHECKPOINT, opts({ onProgress: (p) => (seen.push(p.done), (total = p.total)) }));
    assert.equal(total, CHECKPOINT.reduce((s, f) => s + sizeOf(QWEN, f), 0));
    assert.equal(seen.at(-1), total);
    assert.ok(seen.every((v, i) => i === 0 || v >= seen[i - 1]!));
  });
});

describe('hub download: the body stream', () => {
  const cdnUrl = (repo: string, file: string) => `${hub.cdnUrl}/blobs/${hub.sha256(repo, file)}`;
  const drain = async (body: AsyncIterable<Buffer>, each?: () => Promise<void>) => {
    const parts: Buffer[] = [];
    try {
      for await (const b of body) {
        parts.push(Buffer.from(b));
        await each?.();
      }
    } catch (err) {
      return { data: Buffer.concat(parts), err: err as Error };
    }
    return { data: Buffer.concat(parts), err: undefined };
  };

  test('the body read into batch buffers: every byte, in views that are never written again, with a consumer slower than the socket', async () => {
    const want = served(QWEN, WEIGHTS);
    const res = await directGet(cdnUrl(QWEN, WEIGHTS), { headers: {}, signal: new AbortController().signal, timeoutMs: 5000 });
    assert.equal(res.status, 200);
    assert.equal(res.framing, 'length');
    assert.equal(res.headers.get('content-length'), String(want.length));
    // Hold on to the views themselves: a batch buffer reused under them would change what they show.
    const views: Buffer[] = [];
    for await (const b of res.body) {
      views.push(b);
      await new Promise((r) => setTimeout(r, 30)); // the socket fills batches meanwhile: reading pauses and resumes
    }
    assert.ok(want.length > 2 * DIRECT_BATCH, 'spans several batches');
    assert.ok(Buffer.concat(views).equals(want));
  });

  test('a dropped connection: every byte the socket delivered is handed over before the error', async () => {
    const dropAt = 1_000_003;
    hub.fault(QWEN, WEIGHTS, { dropAt });
    const res = await directGet(cdnUrl(QWEN, WEIGHTS), { headers: {}, signal: new AbortController().signal, timeoutMs: 5000 });
    // A slow consumer, so that bytes wait in the batch when the connection drops.
    const { data, err } = await drain(res.body, () => new Promise((r) => setTimeout(r, 20)));
    assert.ok(err, 'the drop is an error');
    assert.equal(data.length, dropAt, 'nothing buffered is lost with the connection');
    assert.ok(data.equals(served(QWEN, WEIGHTS).subarray(0, dropAt)));
  });

  test('Range, a redirect and an error status come back as the server sent them; an abort ends the body', async () => {
    const res = await directGet(cdnUrl(QWEN, WEIGHTS), { headers: { range: 'bytes=100-' }, signal: new AbortController().signal, timeoutMs: 5000 });
    assert.equal(res.status, 206);
    assert.match(res.headers.get('content-range') ?? '', /^bytes 100-/);
    assert.ok((await drain(res.body)).data.equals(served(QWEN, WEIGHTS).subarray(100)));
    const redirect = await directGet(resolveUrl(hub.url, QWEN, 'main', WEIGHTS), { headers: {}, signal: new AbortController().signal, timeoutMs: 5000 });
    assert.equal(redirect.status, 302);
    assert.equal(redirect.headers.get('location'), cdnUrl(QWEN, WEIGHTS));
    redirect.discard();
    const missing = await directGet(resolveUrl(hub.url, QWEN, 'main', 'nope.json'), { headers: {}, signal: new AbortController().signal, timeoutMs: 5000 });
    assert.equal(missing.status, 404);
    assert.equal(missing.headers.get('x-error-code'), 'EntryNotFound');
    missing.discard();
    hub.fault(QWEN, WEIGHTS, { bytesPerSecond: 2_000_000 });
    const ac = new AbortController();
    const slow = await directGet(cdnUrl(QWEN, WEIGHTS), { headers: {}, signal: ac.signal, timeoutMs: 5000 });
    setTimeout(() => ac.abort(), 100);
    const { data, err } = await drain(slow.body);
    assert.equal(err?.name, 'AbortError');
    assert.ok(data.length > 0 && data.length < sizeOf(QWEN, WEIGHTS), `kept ${data.length}`);
  });

  test('a hostile server: any number of interim 1xx heads, an oversized head, a bad Content-Length or a malformed header line: an answer or a clear error, never a crash', async () => {
    const answers: Record<string, Buffer> = {
      // 120,000 interim heads (2.8 MB) before the answer: a recursive head parser overflows its stack here.
      many1xx: Buffer.concat([Buffer.from('HTTP/1.1 100 Continue\r\n\r\n'.repeat(120_000)), Buffer.from('HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello')]),
      huge: Buffer.from(`HTTP/1.1 200 OK\r\nx-pad: ${'a'.repeat(100_000)}\r\n\r\n`),
      badLength: Buffer.from('HTTP/1.1 200 OK\r\ncontent-length: 5, 6\r\n\r\nhello'),
      badLine: Buffer.from('HTTP/1.1 200 OK\r\nno colon here\r\n\r\nhello'),
    };
    const server = net.createServer((socket) => {
      socket.once('data', (req) => {
        const name = /^GET \/(\w+)/.exec(req.toString('latin1'))![1]!;
        socket.end(answers[name] ?? Buffer.from('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n'));
      });
      socket.on('error', () => {});
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    const get = (name: string) => directGet(`${base}/${name}`, { headers: {}, signal: new AbortController().signal, timeoutMs: 5000 });
    try {
      const ok = await get('many1xx');
      assert.equal(ok.status, 200);
      assert.equal((await drain(ok.body)).data.toString(), 'hello');
      await assert.rejects(get('huge'), /answered badly: a response head of more than 65536 bytes/);
      await assert.rejects(get('badLength'), /answered badly: a Content-Length of "5, 6"/);
      await assert.rejects(get('badLine'), /answered badly: a malformed header line: "no colon here"/);
    } finally {
      server.close();
    }
  });

  test('a batch buffer is used again only once the reader moved on from it and every byte read into it landed on disk', () => {
    const pool = new BatchPool();
    const a = pool.take();
    pool.pushed(a.subarray(0, 100), 100);
    pool.pushed(a.subarray(100, 300), 300);
    pool.landed(300);
    assert.notEqual(pool.take().buffer, a.buffer, 'the reader may still read into it');
    const b = pool.take();
    pool.pushed(b.subarray(0, 50), 350); // the reader moved on to b
    pool.pushed(Buffer.alloc(10), 360); // not the pool's (node:http): ignored
    pool.landed(299);
    assert.notEqual(pool.take().buffer, a.buffer, 'its last bytes are not on disk yet');
    pool.landed(300);
    assert.equal(pool.take().buffer, a.buffer);
  });

  test('a chunked body is read through node:http instead', async () => {
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.write('hello ');
      res.end('chunks');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/x`;
      const direct = await directGet(url, { headers: {}, signal: new AbortController().signal, timeoutMs: 5000 });
      assert.equal(direct.framing, 'chunked');
      direct.discard();
      const res = await streamGet(url, { endpoint: url, repo: QWEN, revision: 'main', file: 'x' }, {}, new AbortController().signal);
      assert.equal((await drain(res.body)).data.toString(), 'hello chunks');
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  test('through node:http, a body buffers up to BODY_HIGH_WATER_MARK before its socket pauses (Node\'s 16 KiB default stopped and restarted reading every 64 KiB read), or the mark asked for', async () => {
    const url = resolveUrl(hub.url, QWEN, 'main', 'config.json');
    const ctx = { endpoint: hub.url, repo: QWEN, revision: 'main', file: 'config.json' };
    for (const [mark, want] of [[undefined, BODY_HIGH_WATER_MARK], [16 << 10, 16 << 10]] as const) {
      const res = await nodeHttpGet(url, { ...ctx, ...(mark ? { bodyHighWaterMark: mark } : {}) }, {}, new AbortController().signal);
      assert.equal(res.status, 200);
      assert.equal((res.body as unknown as { readableHighWaterMark: number }).readableHighWaterMark, want);
      res.discard();
    }
    assert.ok(BODY_HIGH_WATER_MARK >= 64 << 10, 'at least one socket read');
  });
});

describe('hub download: concurrency and moved things', () => {
  test('two downloads of one file at once: one transfer, both get the file', async () => {
    const [a, b] = await Promise.all([downloadFile(WEIGHTS, opts()), downloadFile(WEIGHTS, opts())]);
    assert.equal(a.path, b.path);
    assert.equal(hub.bytesSent(QWEN, WEIGHTS), sizeOf(QWEN, WEIGHTS));
    assert.deepEqual([a.cached, b.cached].sort(), [false, true]);
  });

  test('a lock held by a live process is waited for; one whose process is gone is taken over', async () => {
    const lock = new RepoCache(cacheDir, QWEN).lock(hub.sha256(QWEN, WEIGHTS));
    fs.mkdirSync(path.dirname(lock), { recursive: true });
    fs.writeFileSync(lock, String(process.ppid));
    const t0 = Date.now();
    setTimeout(() => fs.rmSync(lock), 400);
    await downloadFile(WEIGHTS, opts());
    assert.ok(Date.now() - t0 >= 400, 'waited for the live holder');
    assert.equal(fs.existsSync(lock), false);

    fs.writeFileSync(lock, '2147483646'); // no such pid
    const t1 = Date.now();
    await downloadFile('tokenizer.json', opts());
    await downloadFile(WEIGHTS, opts({ cacheDir: fs.mkdtempSync(path.join(os.tmpdir(), 'hasten-hub-')) }));
    assert.ok(Date.now() - t1 < 2000);
  });

  test('a CDN link that is refused is asked for again, and the download resumes', async () => {
    hub.fault(QWEN, WEIGHTS, { status: 403 });
    const got = await downloadFile(WEIGHTS, opts({ retries: 1 }));
    assert.ok(fs.readFileSync(got.path).equals(served(QWEN, WEIGHTS)));
    const heads = hub.requests.filter((r) => r.method === 'HEAD' && r.path.endsWith(`/${WEIGHTS}`));
    assert.equal(heads.length, 2, 'a fresh HEAD for a fresh link');
  });

  test('a renamed repo: the relative redirect is followed and the file lands under the asked name', async () => {
    await hub.close();
    hub = await startFakeHub(repos, { lifetimeMs: 30_000, renamed: { 'old-org/tiny': QWEN } });
    const got = await downloadFile('config.json', opts({ repo: 'old-org/tiny' }));
    assert.ok(got.path.includes('models--old-org--tiny'));
    assert.ok(fs.readFileSync(got.path).equals(served(QWEN, 'config.json')));
  });
});

describe('hub download: failures by cause', () => {
  test('not enough free space: DiskFullError before any byte is fetched', async () => {
    let asked = '';
    const err = await rejects(downloadFiles(CHECKPOINT, opts({ freeBytes: async (d) => ((asked = d), 1000) })), DiskFullError);
    assert.equal(err.kind, 'disk-full');
    assert.equal(err.needed, CHECKPOINT.reduce((s, f) => s + sizeOf(QWEN, f), 0));
    assert.equal(asked, blobsDir(QWEN));
    assert.equal(gets('hub').length + gets('cdn').length, 0);
  });

  test('a disk that fills while writing (ENOSPC): DiskFullError, not a retry loop', { skip: !fs.existsSync('/dev/full') && 'needs /dev/full' }, async () => {
    // The partial file is a link to /dev/full, where every write fails with ENOSPC.
    fs.mkdirSync(blobsDir(QWEN), { recursive: true });
    fs.symlinkSync('/dev/full', path.join(blobsDir(QWEN), `${hub.sha256(QWEN, WEIGHTS)}.incomplete`));
    const err = await rejects(downloadFile(WEIGHTS, opts({ retries: 3 })), DiskFullError);
    assert.equal(err.kind, 'disk-full');
    assert.equal(gets('cdn').length, 1);
  });

  test('the space check counts only what a partial still lacks', async () => {
    hub.fault(QWEN, WEIGHTS, { dropAt: 1_500_000 });
    await rejects(downloadFile(WEIGHTS, opts()), HubHttpError);
    const kept = fs.statSync(path.join(blobsDir(QWEN), `${hub.sha256(QWEN, WEIGHTS)}.incomplete`)).size;
    const err = await rejects(downloadFile(WEIGHTS, opts({ freeBytes: async () => 0 })), DiskFullError);
    assert.equal(err.needed, sizeOf(QWEN, WEIGHTS) - kept);
  });

  test('a gated repo without a token, or with one that has no access', async () => {
    const none = await rejects(downloadFile(WEIGHTS, opts({ repo: GATED })), GatedRepoError);
    assert.equal(none.hadToken, false);
    assert.match(none.message, /Set Hugging Face Token/);
    const wrong = await rejects(downloadFile(WEIGHTS, opts({ repo: GATED, token: 'hf_wrong_secret_value' })), GatedRepoError);
    assert.equal(wrong.hadToken, true);
    assert.ok(!`${wrong.message}${wrong.stack}`.includes('hf_wrong_secret_value'), 'the token is in no error');
  });

  test('a gated repo with the token: the token goes to the hub only, never to the CDN', async () => {
    const got = await downloadFile(WEIGHTS, opts({ repo: GATED, token: hub.token }));
    assert.ok(fs.readFileSync(got.path).equals(served(GATED, WEIGHTS)));
    assert.ok(hub.requests.filter((r) => r.server === 'hub').every((r) => r.authorization === `Bearer ${hub.token}`));
    assert.ok(gets('cdn').length > 0 && gets('cdn').every((r) => r.authorization === undefined));
  });

  test('404: a missing repo, file or revision each has its own error; a missing optional file is skipped', async () => {
    const repo = await rejects(downloadFile(WEIGHTS, opts({ repo: 'fake-org/nothing-here' })), RepoNotFoundError);
    assert.equal(repo.kind, 'repo-not-found');
    const file = await rejects(downloadFile('pytorch_model.bin', opts()), EntryNotFoundError);
    assert.equal(file.kind, 'file-not-found');
    const rev = await rejects(downloadFile(WEIGHTS, opts({ revision: 'v9' })), EntryNotFoundError);
    assert.equal(rev.kind, 'revision-not-found');
    const snap = await downloadFiles(['config.json'], opts(), ['generation_config.json']);
    assert.deepEqual(snap.files.map((f) => f.file), ['config.json']);
  });

  test('offline (connection refused): OfflineError, unless the cache has the files for that revision', async () => {
    const port = await closedPort();
    const dead = `http://127.0.0.1:${port}`;
    const t0 = Date.now();
    const err = await rejects(downloadFile(WEIGHTS, opts({ endpoint: dead, retries: 5, backoffMs: 300 })), OfflineError);
    assert.ok(Date.now() - t0 < 1500, 'a refused connection is retried once, not five times with backoff');
    assert.equal(err.kind, 'offline');
    assert.match(err.message, /connection refused/);
    await downloadFiles(['config.json', WEIGHTS], opts());
    const cached = await downloadFiles(['config.json', WEIGHTS], opts({ endpoint: dead }));
    assert.equal(cached.commit, hub.commitOf(QWEN));
    assert.ok(cached.files.every((f) => f.cached));
    hub.requests.length = 0;
    const offline = await downloadFile(WEIGHTS, opts({ offline: true }));
    assert.equal(offline.cached, true);
    assert.equal(hub.requests.length, 0);
    await rejects(downloadFile('tokenizer.json', opts({ offline: true })), OfflineError);
  });

  test('a stalled body is dropped after stallMs and resumed; a 500 is retried', async () => {
    hub.fault(QWEN, WEIGHTS, { stallMs: 2000 });
    const t0 = Date.now();
    const got = await downloadFile(WEIGHTS, opts({ stallMs: 150, retries: 2 }));
    assert.ok(Date.now() - t0 < 1500, 'did not wait for the stalled server');
    assert.ok(fs.readFileSync(got.path).equals(served(QWEN, WEIGHTS)));
    assert.match(gets('cdn')[1]!.range ?? '', /^bytes=\d+-$/);

    hub.fault(LLAMA, 'config.json', { status: 500 });
    const cfg = await downloadFile('config.json', opts({ repo: LLAMA, retries: 1 }));
    assert.ok(fs.readFileSync(cfg.path).equals(served(LLAMA, 'config.json')));
    hub.fault(LLAMA, 'tokenizer_config.json', { status: 500, times: 2 });
    const e = await rejects(downloadFile('tokenizer_config.json', opts({ repo: LLAMA, retries: 1 })), HubHttpError);
    assert.equal(e.status, 500);
    assert.equal(e.retryable, true);
  });

  test('a bad repo id or path is refused before any request', async () => {
    await rejects(downloadFile(WEIGHTS, opts({ repo: '../etc' })), HubError);
    await rejects(downloadFile('../../x', opts()), HubError);
    assert.equal(hub.requests.length, 0);
  });
});

describe('hub settings', () => {
  test('endpoint: the setting, else HF_ENDPOINT, else the public hub', () => {
    assert.equal(resolveEndpoint('http://mirror.local/', { HF_ENDPOINT: 'https://hf-mirror.example' }), 'http://mirror.local');
    assert.equal(resolveEndpoint('', { HF_ENDPOINT: 'https://hf-mirror.example/' }), 'https://hf-mirror.example');
    assert.equal(resolveEndpoint(undefined, {}), 'https://huggingface.co');
    assert.throws(() => resolveEndpoint('ftp://x', {}), HubError);
  });

  test('token: HF_TOKEN, else the file huggingface-cli login writes', () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'hasten-hfhome-'));
    try {
      assert.equal(defaultToken({ HF_TOKEN: ' hf_env ', HF_HOME: home }), 'hf_env');
      assert.equal(defaultToken({ HF_HOME: home }), undefined);
      fs.writeFileSync(path.join(home, 'token'), 'hf_file\n');
      assert.equal(defaultToken({ HF_HOME: home }), 'hf_file');
      assert.equal(defaultToken({ HF_HOME: '/nonexistent', HF_TOKEN_PATH: path.join(home, 'token') }), 'hf_file');
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });

  test('cache: HF_HUB_CACHE, else HF_HOME/hub, else XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub', () => {
    assert.equal(hubCacheDir({ HF_HUB_CACHE: '/a', HF_HOME: '/b' }), '/a');
    assert.equal(hubCacheDir({ HF_HOME: '/b' }), path.join('/b', 'hub'));
    assert.equal(hubCacheDir({ XDG_CACHE_HOME: '/c' }), path.join('/c', 'huggingface', 'hub'));
    assert.equal(hubCacheDir({}), path.join(os.homedir(), '.cache', 'huggingface', 'hub'));
  });
});


/** A port on 127.0.0.1 with nothing listening. */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
