// Loading the engine from settings: bundled names and paths, and the fallback to the bundled model
// when the configured folder cannot be loaded.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { readConfig } from '../../src/config';
import { EngineHost, type HostState } from '../../src/completion/engineHost';
import type { LoadedEngine } from '../../src/completion/processEngine';
import type { Log } from '../../src/completion/service';
import type { ProviderChange } from '../../src/engine';
import { statusView } from '../../src/ui/status';

const MODELS = path.join(__dirname, '..', '..', 'models');
const cfg = readConfig({ get: <T>(_k: string, d: T) => d }).engine;

function recordingLog(): Log & { errors: string[] } {
  const errors: string[] = [];
  return { errors, trace() {}, debug() {}, info() {}, warn() {}, error: (m) => errors.push(m) };
}

test('model settings resolve to bundled folders or paths', () => {
  const host = new EngineHost(MODELS, recordingLog());
  assert.equal(host.resolveModel(''), path.join(MODELS, 'hasten-target'));
  assert.equal(host.resolveModel('hasten-draft-s'), path.join(MODELS, 'hasten-draft-s'));
  assert.equal(host.resolveModel('models/x', '/ws'), '/ws/models/x');
  assert.equal(host.resolveModel('~/m'), path.join(os.homedir(), 'm'));
  const names = host.bundledModels().map((m) => m.name);
  assert.equal(names[0], 'hasten-target', 'the target is listed first');
  assert.ok(!names.includes('hasten-cmlm'), 'the masked LM is not a completion model');
});

test('a bad model folder is reported with its cause, and the bundled model is loaded instead', { timeout: 120_000 }, async () => {
  const bad = fs.mkdtempSync(path.join(os.tmpdir(), 'hasten-bad-model-'));
  fs.writeFileSync(path.join(bad, 'config.json'), '{ not json');
  const log = recordingLog();
  const host = new EngineHost(MODELS, log);
  const states: HostState[] = [];
  host.onDidChangeState((s) => states.push(s));
  try {
    await host.load({ ...cfg, model: bad });
    assert.deepEqual(states.map((s) => s.kind), ['loading', 'ready']);
    const ready = states[1] as Extract<HostState, { kind: 'ready' }>;
    assert.equal(ready.model, 'hasten-target');
    assert.match(ready.warnings.join('\n'), /config\.json is not valid JSON.*bundled model hasten-target/s);
    // The bundled model's whole context (its config's max_position_embeddings), reported by the engine's process.
    const modelContext = (JSON.parse(fs.readFileSync(path.join(MODELS, 'hasten-target', 'config.json'), 'utf8')) as { max_position_embeddings: number }).max_position_embeddings;
    assert.equal(ready.context, modelContext);
    assert.match(log.errors[0]!, new RegExp(bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    assert.ok(host.engine);
    const err = await host.validate(bad);
    assert.match(err?.message ?? '', /config\.json/);
    assert.equal(await host.validate(path.join(MODELS, 'hasten-draft-s')), undefined);
  } finally {
    await host.dispose();
    fs.rmSync(bad, { recursive: true, force: true });
  }
});

test('an unavailable execution provider falls back to cpu and the warning reaches the state', { timeout: 120_000 }, async () => {
  const host = new EngineHost(MODELS, recordingLog());
  try {
    await host.load({ ...cfg, executionProvider: 'coreml', draftModel: 'none' });
    const s = host.status;
    assert.equal(s.kind, 'ready');
    if (s.kind !== 'ready') return;
    assert.equal(s.provider, 'cpu');
    assert.match(s.warnings.join('\n'), /coreml.*not available.*cpu/s);
    assert.equal(s.draft, null);
  } finally {
    await host.dispose();
  }
});

test('a newer load supersedes one still loading', { timeout: 120_000 }, async () => {
  const host = new EngineHost(MODELS, recordingLog());
  try {
    const first = host.load({ ...cfg, model: 'hasten-draft-s', draftModel: 'none' });
    const second = host.load({ ...cfg, draftModel: 'none' });
    await Promise.all([first, second]);
    assert.equal(host.engine?.target.folder.name, 'hasten-target');
  } finally {
    await host.dispose();
  }
});

test('a device that fails mid-decode: the host state, and so the status bar tooltip, shows the new provider and why', async () => {
  let fire: ((e: ProviderChange) => void) | undefined;
  const engine = {
    target: { folder: { name: 'hasten-target' }, provider: 'webgpu', contextLength: 1024 },
    providerReason: 'auto: a hardware GPU with a Vulkan driver',
    draft: null,
    retrieval: { update: async () => {}, remove: () => {} },
    complete: () => { throw new Error('not used'); },
    reset: async () => {},
    available: () => [],
    dispose: async () => {},
    onDidChangeProvider(listener: (e: ProviderChange) => void) {
      fire = listener;
      return { dispose: () => (fire = undefined) };
    },
  } satisfies LoadedEngine;
  const host = new EngineHost(MODELS, recordingLog(), async () => engine, { reloadQuietMs: null });
  await host.load(cfg);
  assert.equal(host.status.kind === 'ready' && host.status.provider, 'webgpu');
  const reason = 'webgpu failed while decoding (device lost); the model runs on cpu until it is reloaded';
  fire!({ provider: 'cpu', providerReason: reason });
  const s = host.status as Extract<HostState, { kind: 'ready' }>;
  assert.deepEqual([s.provider, s.providerReason], ['cpu', reason]);
  const tip = statusView({ kind: 'ready', model: s.model, provider: s.provider, providerReason: s.providerReason, draft: s.draft, warnings: s.warnings }).tooltip;
  assert.match(tip, /on cpu/);
  assert.match(tip, /Execution provider cpu: webgpu failed while decoding \(device lost\)/);
  assert.doesNotMatch(tip, /on webgpu/);
  await host.dispose();
});

test('whenReady: a completion asked for while the model loads gets the engine once it is ready; nothing to wait for, an abort, a timeout or dispose give undefined', async () => {
  const fake = (name: string): LoadedEngine => ({
    target: { folder: { name }, provider: 'cpu' }, draft: null,
    retrieval: { update: async () => {}, remove: () => {} },
    complete: () => { throw new Error('not used'); },
    reset: async () => {}, available: () => [], dispose: async () => {},
  });
  let release: (() => void) | undefined;
  const engine = fake('hasten-target');
  const host = new EngineHost(MODELS, recordingLog(), () => new Promise((resolve) => (release = () => resolve(engine))), { reloadQuietMs: null });
  const signal = new AbortController().signal;
  assert.equal(await host.whenReady(signal), undefined, 'idle: no load under way, nothing to wait for');
  const loading = host.load(cfg);
  assert.equal(host.status.kind, 'loading');
  const waiting = host.whenReady(signal);
  const timedOut = host.whenReady(signal, undefined, 20);
  const aborted = new AbortController();
  const abortedWait = host.whenReady(aborted.signal);
  aborted.abort();
  assert.equal(await timedOut, undefined, 'gives up after its timeout');
  assert.equal(await abortedWait, undefined, 'gives up when the request is cancelled');
  release!();
  await loading;
  assert.equal(await waiting, engine, 'the engine, once loaded');
  assert.equal(await host.whenReady(signal), engine, 'ready: at once');
  assert.equal(await host.whenReady(signal, undefined, 0), engine, 'ready: at once, even with no time to wait');
  // The engine that just ended is never handed out again, even before the host hears of its end.
  const notThat = host.whenReady(signal, engine, 60_000);
  const t0 = Date.now();
  await host.dispose();
  assert.equal(await notThat, undefined, 'dispose ends the wait');
  assert.ok(Date.now() - t0 < 5_000);
});
