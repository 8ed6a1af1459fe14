// The download's digest computed beside the transfer: a large file is hashed in a worker thread,
// a small one inline; both give the digest of the whole file, a resumed partial included, and a
// wrong byte is still caught and the file downloaded once more.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { downloadFile } from '../../src/engine/hub';
import { disposeHashWorker, hashWorkerRunning, newHasher, SharedHasher, stallHashWorker, WORKER_FROM_BYTES } from '../../src/engine/hub/hasher';
import { FakeHub, startFakeHub } from './helpers/fakeHub';

const BIG = randomBytes(WORKER_FROM_BYTES + (8 << 20) + 12_345);
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const gitSha1 = (b: Uint8Array) => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');

/** Feeds `data` to a hasher as transfer() does: 64 KB chunks as a socket delivers them, appended to `file` in 4 MB batches, each announced once on disk. */
function feed(h: ReturnType<typeof newHasher>, data: Buffer, file: string, at = 0): void {
  for (let i = 0; i < data.length; i += 4 << 20) {
    const batch = data.subarray(i, Math.min(data.length, i + (4 << 20)));
    for (let j = 0; j < batch.length; j += 65_536) h.update(batch.subarray(j, Math.min(batch.length, j + 65_536)));
    fs.appendFileSync(file, batch);
    h.landed(at + i + batch.length);
  }
}

describe('hashers', () => {
  let tmp: string;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hasten-hasher-'));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  test('a worker for a large file, inline for a small one: the same sha256 and git blob sha1', async () => {
    for (const [digest, want] of [['sha256', sha256(BIG)], ['git-sha1', gitSha1(BIG)]] as const) {
      const file = path.join(tmp, `whole-${digest}`);
      const worker = newHasher(digest, BIG.length, BIG.length, file);
      assert.equal(worker.constructor.name, 'WorkerHasher');
      feed(worker, BIG, file);
      assert.equal(await worker.digest(), want);
      worker.dispose();
      fs.rmSync(file);
      const inline = newHasher(digest, BIG.length, 1000, file);
      assert.equal(inline.constructor.name, 'InlineHasher');
      const shared = newHasher(digest, BIG.length, BIG.length, file, true);
      assert.equal(shared.constructor.name, 'SharedHasher', 'a large body in batch buffers goes to the shared worker');
      shared.dispose();
      assert.equal(newHasher(digest, BIG.length, 1000, file, true).constructor.name, 'InlineHasher');
      feed(inline, BIG, file);
      assert.equal(await inline.digest(), want);
    }
    assert.equal(await newHasher('none', 10, 10, path.join(tmp, 'x')).digest(), '');
  });

  test('a resumed file: the partial on disk first, then the rest, in a worker', async () => {
    const cut = 3_000_001;
    const file = path.join(tmp, 'partial');
    fs.writeFileSync(file, BIG.subarray(0, cut));
    const h = newHasher('sha256', BIG.length, BIG.length - cut, file);
    await h.file(file, cut);
    feed(h, BIG.subarray(cut), file, cut);
    assert.equal(await h.digest(), sha256(BIG));
    h.dispose();
  });

  test('a worker that is disposed of does not keep the process alive, and one whose file is gone reports it', async () => {
    const h = newHasher('sha256', BIG.length, BIG.length, path.join(tmp, 'missing'));
    await assert.rejects(h.file(path.join(tmp, 'missing'), 10), /hashing the download: .*ENOENT/);
    h.dispose();
  });
});

describe('the shared hashing worker', () => {
  /** BIG in 4 MB shared batch buffers, fed in 64 KB views as directGet hands them over. */
  const sharedViews = (data: Buffer) => {
    const views: Buffer[] = [];
    for (let i = 0; i < data.length; i += 4 << 20) {
      const batch = Buffer.from(new SharedArrayBuffer(4 << 20));
      const n = data.copy(batch, 0, i, Math.min(data.length, i + (4 << 20)));
      for (let j = 0; j < n; j += 65_536) views.push(batch.subarray(j, Math.min(n, j + 65_536)));
    }
    return views;
  };

  test('two hashes at once, each the digest of its own bytes; the worker outlives them and is kept for the next', async () => {
    const other = Buffer.from(BIG).reverse();
    const a = new SharedHasher('sha256', BIG.length);
    const b = new SharedHasher('git-sha1', other.length);
    const hashed: number[] = [];
    a.onHashed = (n) => hashed.push(n);
    const va = sharedViews(BIG);
    const vb = sharedViews(other);
    for (let i = 0; i < Math.max(va.length, vb.length); i++) {
      if (va[i]) a.update(va[i]!);
      if (vb[i]) b.update(vb[i]!);
      await a.ready();
      await b.ready();
    }
    assert.deepEqual(await Promise.all([a.digest(), b.digest()]), [sha256(BIG), gitSha1(other)]);
    assert.equal(hashed.at(-1), BIG.length, 'onHashed reaches every byte');
    assert.ok(hashed.every((v, i) => i === 0 || v > hashed[i - 1]!));
    assert.ok(hashWorkerRunning(), 'kept for the next download');
    const c = new SharedHasher('sha256', 3);
    c.update(Buffer.from('abc'));
    assert.equal(await c.digest(), sha256(Buffer.from('abc')));
  });

  test('a resumed partial is hashed from disk first; disposing of the worker fails a hash under way, and the next starts a new one', async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hasten-shared-'));
    try {
      const cut = 3_000_001;
      const file = path.join(tmp, 'partial');
      fs.writeFileSync(file, BIG.subarray(0, cut));
      const h = new SharedHasher('sha256', BIG.length);
      await h.file(file, cut);
      for (const v of sharedViews(BIG.subarray(cut))) h.update(v);
      assert.equal(await h.digest(), sha256(BIG));
      const gone = new SharedHasher('sha256', 10);
      await assert.rejects(gone.file(path.join(tmp, 'missing'), 10), /hashing the download: .*ENOENT/);
      const cut2 = new SharedHasher('sha256', BIG.length);
      cut2.update(sharedViews(BIG)[0]!);
      const pending = cut2.digest();
      disposeHashWorker();
      await assert.rejects(pending, /stopped/);
      assert.equal(hashWorkerRunning(), false);
      const next = new SharedHasher('sha256', 3);
      next.update(Buffer.from('abc'));
      assert.equal(await next.digest(), sha256(Buffer.from('abc')));
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});

describe('a large download', () => {
  const REPO = 'fake-org/big';
  const FILE = 'model.safetensors';
  let hub: FakeHub;
  let cacheDir: string;
  before(async () => {
    hub = await startFakeHub([{ id: REPO, files: { 'config.json': Buffer.from('{}\n'), [FILE]: BIG } }], { lifetimeMs: 60_000 });
    cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hasten-hasher-hub-'));
  });
  after(async () => {
    await hub.close();
    fs.rmSync(cacheDir, { recursive: true, force: true });
  });
  const opts = { repo: REPO, retries: 0, backoffMs: 1, stallMs: 10_000, timeoutMs: 10_000, offline: false };

  test('dropped early, resumed with only the missing bytes, and the whole file checked', async () => {
    hub.fault(REPO, FILE, { dropAt: 2_000_000 });
    await assert.rejects(downloadFile(FILE, { ...opts, endpoint: hub.url, cacheDir }));
    const got = await downloadFile(FILE, { ...opts, endpoint: hub.url, cacheDir });
    const last = hub.requests.filter((r) => r.server === 'cdn' && r.method === 'GET').at(-1)!;
    const kept = Number(/^bytes=(\d+)-$/.exec(last.range ?? '')?.[1]);
    assert.ok(kept > 0 && kept <= 2_000_000, `resumed from ${last.range}`);
    assert.equal(last.bytes, BIG.length - kept);
    assert.ok(fs.readFileSync(got.path).equals(BIG));
  });

  test('a hash far behind the reads: no batch buffer is read into again before its bytes are hashed, so one transfer gives the right file', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hasten-hasher-slow-'));
    try {
      const before = hub.bytesSent(REPO, FILE);
      stallHashWorker(1500); // the reads and the disk run ahead meanwhile
      const got = await downloadFile(FILE, { ...opts, endpoint: hub.url, cacheDir: dir });
      assert.equal(hub.bytesSent(REPO, FILE) - before, BIG.length, 'no second transfer after a failed checksum');
      assert.equal(got.etag, sha256(BIG));
      assert.ok(fs.readFileSync(got.path).equals(BIG));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a wrong byte late in the file is caught and the file is downloaded once more', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hasten-hasher-bad-'));
    try {
      const before = hub.bytesSent(REPO, FILE);
      hub.fault(REPO, FILE, { corruptAt: BIG.length - 5 });
      const got = await downloadFile(FILE, { ...opts, endpoint: hub.url, cacheDir: dir });
      assert.ok(fs.readFileSync(got.path).equals(BIG));
      assert.equal(hub.bytesSent(REPO, FILE) - before, 2 * BIG.length);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
