// Privacy with the model manager: nothing connects anywhere until a download is started, and a
// download connects only to the configured endpoint (and to the CDN location that endpoint itself
// redirects an LFS file to, as the Hugging Face hub does). Every TCP connection this process opens
// (net, tls, and fetch, which goes through them) and every DNS lookup is recorded, not blocked.
import assert from 'node:assert/strict';
import dns from 'node:dns';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { readConfig } from '../../src/config';
import { EngineHost } from '../../src/completion/engineHost';
import type { Log } from '../../src/completion/service';
import { classifyFolder, describeNeeds, downloadFiles, PRESETS, resolveEndpoint } from '../../src/engine/hub';
import { startFakeHub, tinyCheckpointRepos, type FakeHub } from './helpers/fakeHub';

const ROOT = path.join(__dirname, '..', '..');
const connections: string[] = [];
const lookups: string[] = [];
const restore: (() => void)[] = [];
const quiet: Log = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };

/** host:port of a Socket.connect call's arguments; undefined for a local pipe (IPC, not network). */
function target(args: unknown[]): string | undefined {
  const [a, b] = args as [unknown, unknown];
  const o = (Array.isArray(a) ? a[0] : a) as { host?: string; port?: number | string; path?: string } | number | string;
  if (typeof o === 'object' && o !== null) return o.path !== undefined ? undefined : `${o.host ?? 'localhost'}:${o.port}`;
  if (typeof o === 'number' || /^\d+$/.test(String(o))) return `${typeof b === 'string' ? b : 'localhost'}:${o}`;
  return undefined;
}

before(() => {
  const connect = net.Socket.prototype.connect;
  net.Socket.prototype.connect = function (this: net.Socket, ...args: unknown[]) {
    const t = target(args);
    if (t) connections.push(t);
    return (connect as (...a: unknown[]) => net.Socket).apply(this, args);
  } as typeof connect;
  restore.push(() => (net.Socket.prototype.connect = connect));
  const lookup = dns.lookup;
  (dns as { lookup: unknown }).lookup = (host: string, ...rest: unknown[]) => {
    lookups.push(host);
    return (lookup as (...a: unknown[]) => unknown)(host, ...rest);
  };
  restore.push(() => ((dns as { lookup: unknown }).lookup = lookup));
});
after(() => restore.forEach((r) => r()));

test('without a download: loading, completing and the model manager\'s local work open no connection', { timeout: 120_000 }, async () => {
  const host = new EngineHost(path.join(ROOT, 'models'), quiet, undefined, { reloadQuietMs: null });
  try {
    await host.load({ ...readConfig({ get: <T>(_k: string, d: T) => d }).engine, draftModel: 'none' });
    let tokens = 0;
    for await (const u of host.engine!.complete({ prefix: 'def add(a, b):\n', suffix: '', strategy: 'auto', maxNewTokens: 8 })) tokens = u.trace.tokens;
    assert.ok(tokens > 0);
  } finally {
    await host.dispose();
  }
  // What the Download Model picker shows before the user picks anything, and a local folder's check.
  assert.ok(PRESETS.every((p) => describeNeeds(p).length > 0));
  assert.ok(resolveEndpoint(undefined).startsWith('http'));
  await classifyFolder(path.join(ROOT, 'models', 'hasten-draft-s'));
  assert.deepEqual(connections, []);
  assert.deepEqual(lookups, []);
});

test('a download connects only to the configured endpoint and the CDN it redirects to; never the public hub', { timeout: 120_000 }, async () => {
  const hub: FakeHub = await startFakeHub(tinyCheckpointRepos(), { lifetimeMs: 60_000 });
  const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hasten-privacy-dl-'));
  const savedEndpoint = process.env.HF_ENDPOINT;
  // An environment endpoint that must lose to the configured one.
  process.env.HF_ENDPOINT = 'http://127.0.0.9:9';
  try {
    connections.length = 0;
    const snap = await downloadFiles(['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'], { repo: 'fake-org/tiny-qwen2', endpoint: hub.url, cacheDir, retries: 0, timeoutMs: 5000 });
    assert.ok(snap.files.length >= 4, 'downloaded');
    const allowed = new Set([new URL(hub.url).host, new URL(hub.cdnUrl).host]);
    assert.ok(connections.length > 0, 'the recorder sees the download');
    assert.deepEqual(connections.filter((c) => !allowed.has(c)), [], `connections: ${connections.join(', ')}`);
    assert.ok(connections.includes(new URL(hub.url).host), 'the endpoint was asked');
    // The CDN is reached only at a location the endpoint gave (the weights, an LFS file).
    const firstCdn = hub.requests.findIndex((r) => r.server === 'cdn');
    assert.ok(firstCdn === -1 || hub.requests.slice(0, firstCdn).some((r) => r.server === 'hub'), 'the endpoint first');
    assert.deepEqual(lookups.filter((h) => h !== 'localhost' && h !== '127.0.0.1'), [], 'no name was resolved');
  } finally {
    if (savedEndpoint === undefined) delete process.env.HF_ENDPOINT;
    else process.env.HF_ENDPOINT = savedEndpoint;
    await hub.close();
    fs.rmSync(cacheDir, { recursive: true, force: true });
  }
});
