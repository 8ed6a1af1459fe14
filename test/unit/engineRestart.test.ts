// The engine process ending under the extension: EngineHost restarts it with backoff, the completion
// in flight ends quietly, the next completion is served by the new process, and a crash loop stops
// restarts with a message that says what to do. The engine runs in real child processes here.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { readConfig } from '../../src/config';
import { stringSource, windowsAt } from '../../src/completion/context';
import { EngineHost, type HostState, type RestartPolicy } from '../../src/completion/engineHost';
import { TraceHistory, type TraceRecord } from '../../src/completion/history';
import { ProcessEngine } from '../../src/completion/processEngine';
import { CompletionService, type Log, type ProvideRequest } from '../../src/completion/service';

const ROOT = path.join(__dirname, '..', '..');
const MODELS = path.join(ROOT, 'models');
const ENTRY = path.join(ROOT, 'src', 'completion', 'engineProcess.ts');
// A long real file, so that each of the 100 requests below is at a fresh position (no cache hits).
const FILE = fs.readFileSync(path.join(ROOT, 'src', 'completion', 'service.ts'), 'utf8');
const defaults = readConfig({ get: <T>(_k: string, d: T) => d });
const engineCfg = { ...defaults.engine, draftModel: 'none', threads: 1 };

function recordingLog(): Log & { errors: string[]; warnings: string[] } {
  const errors: string[] = [];
  const warnings: string[] = [];
  return { errors, warnings, trace() {}, debug() {}, info() {}, warn: (m) => warnings.push(m), error: (m) => errors.push(m) };
}

function processHost(log: Log, policy: RestartPolicy): EngineHost {
  return new EngineHost(MODELS, log, (o) => ProcessEngine.load(o, ENTRY), { restart: policy, reloadQuietMs: null });
}

const pidOf = (host: EngineHost) => (host.engine as ProcessEngine | undefined)?.pid;

/** Resolves with the first state `pred` accepts (or the current one, if it already does). */
function until(host: EngineHost, pred: (s: HostState) => boolean, ms = 30_000): Promise<HostState> {
  if (pred(host.status)) return Promise.resolve(host.status);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no such state within ${ms} ms; now ${JSON.stringify(host.status)}`)), ms);
    const sub = host.onDidChangeState((s) => {
      if (!pred(s)) return;
      clearTimeout(timer);
      sub.dispose();
      resolve(s);
    });
  });
}

test('a killed engine process is restarted after the backoff; the log and the state say what happened', { timeout: 60_000 }, async () => {
  const log = recordingLog();
  const host = processHost(log, { backoffMs: [200], crashLoop: { ends: 3, windowMs: 60_000 } });
  const states: HostState[] = [];
  host.onDidChangeState((s) => states.push(s));
  try {
    await host.load(engineCfg);
    const first = pidOf(host)!;
    process.kill(first, 'SIGKILL');
    const restarting = await until(host, (s) => s.kind === 'restarting');
    assert.deepEqual(restarting, { kind: 'restarting', model: 'hasten-target', reason: 'The engine process was killed by SIGKILL.' });
    assert.equal(host.engine, undefined, 'no engine is offered while it restarts');
    const t0 = Date.now();
    await until(host, (s) => s.kind === 'ready');
    assert.ok(Date.now() - t0 >= 150, 'waited for the backoff');
    assert.notEqual(pidOf(host), first, 'a new process');
    assert.deepEqual(states.map((s) => s.kind), ['loading', 'ready', 'restarting', 'loading', 'ready']);
    assert.match(log.warnings.join('\n'), /killed by SIGKILL\. Restarting it in 200 ms \(end 1 of 3 within 60 s/);
    assert.deepEqual(log.errors, []);
  } finally {
    await host.dispose();
  }
});

test('three ends within the window are a crash loop: restarts stop and the error says what to do; a new load starts again', { timeout: 90_000 }, async () => {
  const log = recordingLog();
  const host = processHost(log, { backoffMs: [0], crashLoop: { ends: 3, windowMs: 60_000 } });
  try {
    await host.load(engineCfg);
    for (let i = 0; i < 3; i++) {
      await until(host, (s) => s.kind === 'ready');
      process.kill(pidOf(host)!, 'SIGKILL');
      await until(host, (s) => s.kind !== 'ready');
    }
    const s = await until(host, (x) => x.kind === 'error');
    assert.match((s as { message: string }).message, /killed by SIGKILL\. It ended 3 times within 60 s, so Hasten stopped restarting it\. Check hasten\.model and hasten\.executionProvider .*Select Model or reload the window/);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(host.status.kind, 'error', 'no restart after a crash loop');
    assert.equal(host.engine, undefined);
    assert.equal(await host.whenReady(new AbortController().signal), undefined, 'a completion does not wait for an engine that is not coming');
    assert.equal(log.errors.length, 1);
    // The user's next load (Select Model, a settings change) starts afresh.
    await host.load(engineCfg);
    assert.equal(host.status.kind, 'ready');
    assert.ok(pidOf(host));
  } finally {
    await host.dispose();
  }
});

test('a completion asked for as its engine process dies, or while it restarts, waits for the new process and is served by it', { timeout: 90_000 }, async () => {
  const log = recordingLog();
  const host = processHost(log, { backoffMs: [300], crashLoop: { ends: 1000, windowMs: 60_000 } });
  const history = new TraceHistory();
  const completion = { ...defaults.completion, debounceMs: 0, prefetch: false, multiline: 'always' as const, maxLines: 100 };
  const decode = { ...defaults.decode, strategy: 'autoregressive' as const, maxTokens: 32 };
  const service = new CompletionService({
    engine: () => host.engine, whenEngine: (signal, not) => host.whenReady(signal, not), decode: () => decode, completion: () => completion, log, history,
  });
  const req = (cut: number, version: number): ProvideRequest => ({
    uri: 'file:///service.ts', languageId: 'typescript', version, offset: cut, ...windowsAt(stringSource(FILE.slice(0, cut)), cut, completion),
  });
  const nextRecord = () => new Promise<TraceRecord>((resolve) => { const sub = history.onDidRecordTrace((r) => { sub.dispose(); resolve(r); }); });
  try {
    await host.load(engineCfg);
    // Asked for just after the kill, before the host has heard of it: the request reaches a dying
    // process, whose end answers it; it starts again on the next process and is served.
    const first = pidOf(host)!;
    process.kill(first, 'SIGKILL');
    let record = nextRecord();
    const text1 = await service.provide(req(400, 1), new AbortController().signal, () => true);
    assert.ok(text1 && text1.trim().length > 0, `a suggestion after the restart (got ${JSON.stringify(text1)})`);
    assert.ok((await record).trace.tokens > 0, 'decoded to the end');
    const second = pidOf(host)!;
    assert.notEqual(second, first, 'served by a new process');
    // Asked for while the host says it is restarting (the status bar shows it loading).
    process.kill(second, 'SIGKILL');
    await until(host, (s) => s.kind === 'restarting');
    assert.equal(host.engine, undefined);
    record = nextRecord();
    const text2 = await service.provide(req(900, 2), new AbortController().signal, () => true);
    assert.ok(text2 && text2.trim().length > 0, `a suggestion after the second restart (got ${JSON.stringify(text2)})`);
    assert.notEqual(pidOf(host), second);
    assert.ok((await record).trace.tokens > 0, 'decoded to the end');
    // One that the user cancels (typing on) while it waits gives up at once, with nothing.
    process.kill(pidOf(host)!, 'SIGKILL');
    await until(host, (s) => s.kind === 'restarting');
    const abort = new AbortController();
    const waiting = host.whenReady(abort.signal);
    abort.abort();
    assert.equal(await waiting, undefined);
    await until(host, (s) => s.kind === 'ready');
    assert.deepEqual(log.errors, [], 'nothing failed loudly');
  } finally {
    service.dispose();
    await host.dispose();
  }
});

test('SIGKILL mid-completion, 50 times: each completion in flight ends quietly, the process restarts, the next completion is served', { timeout: 300_000 }, async () => {
  const log = recordingLog();
  // Fifty ends in a minute would be a crash loop under the default policy; this test is about recovery.
  const host = processHost(log, { backoffMs: [0], crashLoop: { ends: 1000, windowMs: 60_000 } });
  const history = new TraceHistory();
  const completion = { ...defaults.completion, debounceMs: 0, prefetch: false, multiline: 'always' as const, maxLines: 100 };
  const decode = { ...defaults.decode, strategy: 'autoregressive' as const, maxTokens: 64 };
  const service = new CompletionService({ engine: () => host.engine, decode: () => decode, completion: () => completion, log, history });
  const req = (cut: number, version: number): ProvideRequest => ({
    uri: 'file:///fib.ts', languageId: 'typescript', version, offset: cut, ...windowsAt(stringSource(FILE.slice(0, cut)), cut, completion),
  });
  const nextRecord = () => new Promise<TraceRecord>((resolve) => { const sub = history.onDidRecordTrace((r) => { sub.dispose(); resolve(r); }); });
  let recoveries = 0;
  let served = 0;
  let killedMidDecode = 0;
  try {
    await host.load(engineCfg);
    for (let i = 0; i < 50; i++) {
      const pid = pidOf(host)!;
      let killed = false;
      let recordedBeforeKill = false;
      const subRecord = history.onDidRecordTrace(() => (recordedBeforeKill ||= !killed));
      const subUpdate = history.onDidUpdateTrace(() => {
        if (killed) return;
        killed = true;
        process.kill(pid, 'SIGKILL');
      });
      const restarted = until(host, (s) => s.kind === 'ready' && pidOf(host) !== pid);
      // The request in flight: it may show its first text before the kill; it must never reject.
      await service.provide(req(300 + 97 * i, 2 * i), new AbortController().signal, () => true);
      await restarted;
      subRecord.dispose();
      subUpdate.dispose();
      assert.ok(killed, `cycle ${i}: the kill happened during a decode`);
      if (!recordedBeforeKill) killedMidDecode++;
      recoveries++;
      // The next completion, served by the new process.
      const record = nextRecord();
      await service.provide(req(340 + 97 * i, 2 * i + 1), new AbortController().signal, () => true);
      const r = await record;
      assert.ok(r.trace.tokens > 0, `cycle ${i}: the next completion decoded tokens`);
      served++;
    }
  } finally {
    service.dispose();
    await host.dispose();
  }
  assert.equal(recoveries, 50);
  assert.equal(served, 50);
  // A decode that reaches end-of-text in a few tokens can finish before the kill arrives; nearly all must not.
  assert.ok(killedMidDecode >= 45, `${killedMidDecode}/50 kills landed before the decode finished`);
  console.log(`# SIGKILL mid-completion: ${recoveries} recoveries, ${served} next completions served, ${killedMidDecode}/50 kills before the decode finished`);
  assert.deepEqual(log.errors, [], 'no completion failed loudly');
  assert.equal(log.warnings.filter((w) => /killed by SIGKILL/.test(w)).length, 50);
});
