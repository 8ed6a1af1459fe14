// The downloader over HTTPS, as the real hub and its CDN speak it: the loopback fake hub with a
// certificate made at test time (selfsigned), trusted through the downloader's `ca` option, never by
// turning verification off. A whole download with its sha256 check, the hub's redirect to the CDN,
// a Range resume after a drop, the batch reader's exact bytes on a drop, the chunked fallback
// through node:https, and an untrusted certificate refused at once with a clear error.
import { afterEach, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { CertificateError, ChecksumError, downloadFile, DownloadOptions, downloadFiles, HubHttpError, RepoCache } from '../../src/engine/hub';
import { directGet } from '../../src/engine/hub/directGet';
import { streamGet } from '../../src/engine/hub/http';
import { FakeHub, FakeRepo, startFakeHub, testCertificate, tinyCheckpointRepos } from './helpers/fakeHub';
import { rejects } from './helpers/rejects';

const QWEN = 'fake-org/tiny-qwen2';
const WEIGHTS = 'model.safetensors';
const CHECKPOINT = ['config.json', WEIGHTS, 'tokenizer.json', 'tokenizer_config.json'];

let repos: FakeRepo[];
let cert: { key: string; cert: string };
let hub: FakeHub;
let cacheDir: string;

before(async () => {
  // Verification must be on for these tests to mean anything.
  assert.notEqual(process.env.NODE_TLS_REJECT_UNAUTHORIZED, '0');
  repos = tinyCheckpointRepos();
  cert = await testCertificate();
});

beforeEach(async () => {
  hub = await startFakeHub(repos, { lifetimeMs: 30_000, tls: cert });
  cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hasten-hub-tls-'));
});

afterEach(async () => {
  await hub.close();
  fs.rmSync(cacheDir, { recursive: true, force: true });
});

const opts = (o: Partial<DownloadOptions> = {}): DownloadOptions => ({
  repo: QWEN, endpoint: hub.url, cacheDir, ca: cert.cert, retries: 0, backoffMs: 1, stallMs: 5000, timeoutMs: 5000, offline: false, ...o,
});
const served = (file: string) => repos.find((r) => r.id === QWEN)!.files[file]!;
const gets = (server: 'hub' | 'cdn') => hub.requests.filter((r) => r.server === server && r.method === 'GET');
const blobsDir = () => path.join(new RepoCache(cacheDir, QWEN).dir, 'blobs');
const cdnUrl = (file: string) => `${hub.cdnUrl}/blobs/${hub.sha256(QWEN, file)}`;

describe('hub download over HTTPS', () => {
  test('a checkpoint over https: the hub redirects the weights to the CDN host, each file lands with its checksum', async () => {
    assert.match(hub.url, /^https:/);
    assert.match(hub.cdnUrl, /^https:/);
    assert.notEqual(new URL(hub.url).origin, new URL(hub.cdnUrl).origin, 'the CDN is another origin');
    const snap = await downloadFiles(CHECKPOINT, opts({ token: hub.token }));
    for (const f of snap.files) assert.ok(fs.readFileSync(f.path).equals(served(f.file)), f.file);
    const weights = snap.files.find((f) => f.file === WEIGHTS)!;
    assert.equal(weights.etag, hub.sha256(QWEN, WEIGHTS), 'the blob is named by its sha256');
    assert.equal(weights.received, served(WEIGHTS).length);
    // The weights' HEAD at the hub answered 302 to the CDN; their GET went to the CDN, without the token.
    assert.ok(hub.requests.some((r) => r.server === 'hub' && r.method === 'HEAD' && r.path.endsWith(`/${WEIGHTS}`)));
    assert.deepEqual(gets('hub').map((r) => path.basename(r.path)).sort(), ['config.json', 'tokenizer.json', 'tokenizer_config.json']);
    assert.equal(gets('cdn').length, 1);
    assert.equal(gets('cdn')[0]!.authorization, undefined, 'the token stays on the hub');
    assert.ok(gets('hub').every((r) => r.authorization === `Bearer ${hub.token}`));
  });

  test('the sha256 is checked over https: a wrong byte twice is a ChecksumError', async () => {
    hub.fault(QWEN, WEIGHTS, { corruptAt: 3_000_001, times: 2 });
    const err = await rejects(downloadFile(WEIGHTS, opts()), ChecksumError);
    assert.equal(err.expected, hub.sha256(QWEN, WEIGHTS));
    assert.equal(gets('cdn').length, 2);
  });

  test('a dropped connection: the partial is kept, and the next download resumes it with Range', async () => {
    const size = served(WEIGHTS).length;
    hub.fault(QWEN, WEIGHTS, { dropAt: 1_000_003 });
    await rejects(downloadFile(WEIGHTS, opts()), HubHttpError);
    const kept = fs.statSync(path.join(blobsDir(), `${hub.sha256(QWEN, WEIGHTS)}.incomplete`)).size;
    assert.ok(kept > 0 && kept <= 1_000_003, `kept ${kept}`);
    const got = await downloadFile(WEIGHTS, opts());
    const resumed = gets('cdn').at(-1)!;
    assert.equal(resumed.range, `bytes=${kept}-`);
    assert.equal(resumed.bytes, size - kept);
    assert.equal(got.received, size - kept);
    assert.ok(fs.readFileSync(got.path).equals(served(WEIGHTS)));
  });

  test('the batch reader over TLS: every decrypted byte before a drop is handed over, a Range answer is the right bytes', async () => {
    const dropAt = 1_000_003;
    hub.fault(QWEN, WEIGHTS, { dropAt });
    const res = await directGet(cdnUrl(WEIGHTS), { headers: {}, signal: new AbortController().signal, timeoutMs: 5000, ca: cert.cert });
    assert.equal(res.framing, 'length');
    const parts: Buffer[] = [];
    let failed: Error | undefined;
    try {
      for await (const b of res.body) {
        parts.push(Buffer.from(b));
        await new Promise((r) => setTimeout(r, 20)); // a slow consumer: bytes wait in the batch when the drop comes
      }
    } catch (err) {
      failed = err as Error;
    }
    assert.ok(failed, 'the drop is an error');
    assert.ok(Buffer.concat(parts).equals(served(WEIGHTS).subarray(0, dropAt)), `got ${Buffer.concat(parts).length} of ${dropAt}`);

    const ranged = await directGet(cdnUrl(WEIGHTS), { headers: { range: 'bytes=5000000-' }, signal: new AbortController().signal, timeoutMs: 5000, ca: cert.cert });
    assert.equal(ranged.status, 206);
    const rest: Buffer[] = [];
    for await (const b of ranged.body) rest.push(Buffer.from(b));
    assert.ok(Buffer.concat(rest).equals(served(WEIGHTS).subarray(5_000_000)));
  });

  test('a chunked body over https is read through node:https with the same CA', async () => {
    const server = https.createServer({ key: cert.key, cert: cert.cert }, (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.write('hello ');
      res.end('chunks');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const url = `https://127.0.0.1:${(server.address() as net.AddressInfo).port}/x`;
      const ctx = { endpoint: url, repo: QWEN, revision: 'main', file: 'x', ca: cert.cert };
      const res = await streamGet(url, ctx, {}, new AbortController().signal);
      assert.equal(res.direct, false, 'not read by the batch reader');
      const parts: Buffer[] = [];
      for await (const b of res.body) parts.push(b);
      assert.equal(Buffer.concat(parts).toString(), 'hello chunks');
      // Without the CA, node:https refuses it too.
      await assert.rejects(streamGet(url, { ...ctx, ca: undefined }, {}, new AbortController().signal), CertificateError);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  test('an untrusted certificate is refused at once with a CertificateError, through fetch and the batch reader alike, and nothing is fetched', async () => {
    const other = await testCertificate();
    for (const ca of [undefined, other.cert]) {
      // A retry would first wait at least 15 s (backoffMs × 0.75): not retried means well under that.
      const t0 = Date.now();
      const err = await rejects(downloadFile(WEIGHTS, opts({ ca, retries: 3, backoffMs: 20_000 })), CertificateError);
      assert.ok(Date.now() - t0 < 10_000, 'not retried');
      assert.equal(err.kind, 'certificate');
      assert.match(err.message, /^The TLS certificate of 127\.0\.0\.1:\d+ is not trusted \(.+\); nothing was downloaded\./);
      assert.match(err.fix, /NODE_EXTRA_CA_CERTS/);
    }
    // The HEAD went through fetch (no ca) and node:https (the other CA); now the body's reader: the hub trusted, the CDN not.
    await rejects(
      directGet(cdnUrl(WEIGHTS), { headers: {}, signal: new AbortController().signal, timeoutMs: 5000, ca: other.cert }),
      Error,
    ).then((e) => assert.match((e as NodeJS.ErrnoException).code ?? '', /SELF_SIGNED|UNABLE_TO_VERIFY/));
    await rejects(streamGet(cdnUrl(WEIGHTS), { endpoint: hub.url, repo: QWEN, revision: 'main', file: WEIGHTS, ca: other.cert }, {}, new AbortController().signal), CertificateError);
    assert.deepEqual(hub.requests, [], 'no request got past the handshake');
    assert.ok(!fs.existsSync(blobsDir()) || fs.readdirSync(blobsDir()).length === 0, 'no partial');
  });
});
