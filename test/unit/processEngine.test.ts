// The engine in a worker thread: same completions as in this thread, aborts, the engine's own
// errors (cause and fix), and retrieval updates through messages.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Engine, HastenError, isAbortError } from '../../src/engine';
import { WorkerEngine } from '../../src/completion/workerEngine';

const ROOT = path.join(__dirname, '..', '..');
const WORKER = path.join(ROOT, 'src', 'completion', 'engineWorker.ts');
const MODEL = path.join(ROOT, 'models', 'hasten-target');
const FILE = fs.readFileSync(path.join(ROOT, 'test', 'fixtures', 'workspace', 'src', 'fibonacci.ts'), 'utf8');

let worker: WorkerEngine;
before(async () => {
  worker = await WorkerEngine.load({ modelDir: MODEL, draftDir: null }, WORKER);
});
after(() => worker?.dispose());

async function text(e: Pick<Engine, 'complete'> | WorkerEngine, prefix: string, signal?: AbortSignal): Promise<{ text: string; tokens: number; strategy: string }> {
  let last;
  for await (const u of e.complete({ prefix, suffix: '', strategy: 'autoregressive', maxNewTokens: 12, ...(signal ? { signal } : {}) })) last = u;
  return { text: last!.text, tokens: last!.trace.tokens, strategy: last!.trace.strategy };
}

test('a worker engine completes exactly as the engine in this thread, with the final trace', { timeout: 120_000 }, async () => {
  const local = await Engine.load({ modelDir: MODEL, draftDir: null });
  try {
    for (const cut of [60, 200]) assert.deepEqual(await text(worker, FILE.slice(0, cut)), await text(local, FILE.slice(0, cut)));
  } finally {
    await local.dispose();
  }
  assert.equal(worker.target.folder.name, 'hasten-target');
  assert.equal(worker.draft, null);
  assert.ok(worker.available().includes('autoregressive'));
});

test('the stop rule travels as the cursor context and stops decoding in the worker', { timeout: 60_000 }, async () => {
  let last;
  const stopContext = { linePrefix: 'x', lineSuffix: '', nextLines: [], mode: 'never' as const, maxLines: 1 };
  for await (const u of worker.complete({ prefix: FILE, suffix: '', strategy: 'autoregressive', maxNewTokens: 40, stopContext })) last = u;
  // With mode never, decoding stops at the first newline (or earlier at the end of text or the budget).
  assert.ok(last!.trace.stopReason !== 'length' || !last!.text.slice(0, -1).includes('\n'));
  assert.ok(last!.text.split('\n').length <= 2, JSON.stringify(last!.text));
});

test('aborting stops a worker completion with an AbortError', { timeout: 60_000 }, async () => {
  const ctrl = new AbortController();
  ctrl.abort();
  await assert.rejects(text(worker, FILE, ctrl.signal), (err) => isAbortError(err));
  // The worker is still usable afterwards.
  assert.ok((await text(worker, FILE.slice(0, 100))).tokens > 0);
});

test('a bad model folder fails to load with the engine\'s error, cause and fix', { timeout: 60_000 }, async () => {
  const bad = fs.mkdtempSync(path.join(os.tmpdir(), 'hasten-worker-bad-'));
  try {
    await assert.rejects(WorkerEngine.load({ modelDir: bad }, WORKER), (err) => err instanceof HastenError && err.code === 'model-missing' && /config\.json/.test(err.message));
  } finally {
    fs.rmSync(bad, { recursive: true, force: true });
  }
});

test('retrieval updates and reset go through the worker', { timeout: 60_000 }, async () => {
  await worker.retrieval.update('file:///a.ts', FILE);
  worker.retrieval.remove('file:///a.ts');
  await worker.reset();
});
