// The completion pipeline against a scripted engine: newest request wins with one decode in
// flight, cancellation, freshness, streaming, the cache (typed-through) and prefetch.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readConfig } from '../../src/config';
import { stringSource, windowsAt } from '../../src/completion/context';
import { TraceHistory } from '../../src/completion/history';
import { CompletionService, type Log, type ProvideRequest } from '../../src/completion/service';
import type { CompletionRequest } from '../../src/engine';
import { FakeEngine } from './helpers/fakeEngine';

const defaults = readConfig({ get: <T>(_k: string, d: T) => d });

function quietLog(): Log & { errors: string[]; lines: string[] } {
  const errors: string[] = [];
  const lines: string[] = [];
  return { errors, lines, trace() {}, debug() {}, info: (m) => lines.push(m), warn: (m) => lines.push(m), error: (m) => errors.push(m) };
}

function setup(engine: FakeEngine, over: Partial<typeof defaults.completion> = {}) {
  const log = quietLog();
  const history = new TraceHistory();
  const completion = { ...defaults.completion, debounceMs: 0, prefetch: false, ...over };
  const service = new CompletionService({ engine: () => engine, decode: () => defaults.decode, completion: () => completion, log, history });
  const req = (text: string, version = 1): ProvideRequest => ({
    uri: 'file:///a.ts', languageId: 'typescript', version, offset: text.length, ...windowsAt(stringSource(text), text.length, completion),
  });
  return { service, log, history, req };
}

const lines = (n: number) => Array.from({ length: n }, (_, i) => `x${i} = ${i};\n`);
const live = () => new AbortController();

test('resolves with the first line as soon as it is decoded, and streams the rest (onDidExtend)', async () => {
  const engine = new FakeEngine(() => ['a', ' = 1;\n', 'b = 2;\n', 'c = 3;\n'], 15);
  const { service, req } = setup(engine);
  const extended: string[] = [];
  service.onDidExtend((r) => extended.push(r.uri));
  const r = req('let x;\n');
  const first = await service.provide(r, live().signal, () => true);
  assert.equal(first, 'a = 1;');
  assert.equal(engine.finished, 0, 'resolved before the decode finished');
  await new Promise((res) => setTimeout(res, 100));
  assert.equal(engine.finished, 1);
  assert.ok(extended.length >= 2, `told the editor to ask again as the suggestion grew (${extended.length} times)`);
  assert.equal(await service.provide(r, live().signal, () => true), 'a = 1;\nb = 2;\nc = 3;');
});

test('after streaming finishes, asking again serves the whole suggestion from the cache without a decode', async () => {
  const engine = new FakeEngine(() => lines(3), 2);
  const { service, req } = setup(engine);
  const r = req('start\n');
  await service.provide(r, live().signal, () => true);
  await new Promise((res) => setTimeout(res, 60));
  const again = await service.provide(r, live().signal, () => true);
  assert.equal(again, 'x0 = 0;\nx1 = 1;\nx2 = 2;');
  assert.equal(engine.calls.length, 1);
});

test('typing characters that match the suggestion serves the rest with no new decode', async () => {
  const engine = new FakeEngine(() => ['total / count;'], 1);
  const { service, req } = setup(engine);
  assert.equal(await service.provide(req('return '), live().signal, () => true), 'total / count;');
  assert.equal(await service.provide(req('return tot', 2), live().signal, () => true), 'al / count;');
  assert.equal(engine.calls.length, 1);
});

test('rapid requests: the newest wins, at most one decode runs at a time, and stale ones resolve with nothing', async () => {
  const engine = new FakeEngine((r) => [`${r.prefix.length}`, ';\n'], 8);
  const { service, req, log } = setup(engine);
  let version = 0;
  const text = 'let v = ';
  const results: Promise<string | undefined>[] = [];
  for (let i = 0; i < 40; i++) {
    const v = ++version;
    const t = text + 'a'.repeat(i);
    results.push(service.provide(req(t, v), live().signal, () => v === version));
    await new Promise((res) => setTimeout(res, 2));
  }
  const out = await Promise.all(results);
  assert.equal(engine.maxActive, 1);
  assert.equal(service.scheduler.maxInFlight, 1);
  assert.ok(out.slice(0, -1).every((x) => x === undefined), 'every superseded request resolved with nothing');
  assert.equal(out.at(-1), `${(text + 'a'.repeat(39)).length};`, 'the last request got the completion for the final text');
  assert.ok(engine.calls.length < 40, `superseded requests never reached the engine (${engine.calls.length} did)`);
  assert.deepEqual(log.errors, []);
});

test('cancelling the request stops its decode within one step', async () => {
  const engine = new FakeEngine(() => Array.from({ length: 50 }, () => 'x'), 10);
  const { service, req } = setup(engine);
  const ctrl = new AbortController();
  const p = service.provide(req('a'), ctrl.signal, () => true);
  await new Promise((res) => setTimeout(res, 35));
  const stepsAtAbort = engine.stepsRun;
  ctrl.abort();
  assert.equal(await p, undefined);
  await service.idle();
  assert.ok(engine.stepsRun <= stepsAtAbort + 1, `ran ${engine.stepsRun - stepsAtAbort} steps after the abort`);
  assert.equal(engine.aborted, 1);
});

test('a request whose document changed meanwhile never resolves with text', async () => {
  const engine = new FakeEngine(() => ['stale();\n'], 5);
  const { service, req } = setup(engine);
  let current = true;
  const p = service.provide(req('foo'), live().signal, () => current);
  current = false;
  assert.equal(await p, undefined);
});

test('debounce: a request cancelled within the debounce never reaches the engine', async () => {
  const engine = new FakeEngine(() => ['x'], 1);
  const { service, req } = setup(engine, { debounceMs: 50 });
  const ctrl = new AbortController();
  const p = service.provide(req('a'), ctrl.signal, () => true);
  setTimeout(() => ctrl.abort(), 10);
  assert.equal(await p, undefined);
  assert.equal(engine.calls.length, 0);
});

test('after a suggestion completes, the next one is prefetched as if it were accepted', async () => {
  const engine = new FakeEngine((r: CompletionRequest) => [r.prefix.endsWith('a = 1;') ? ' // next' : 'a = 1;'], 2);
  const { service, req } = setup(engine, { prefetch: true, multiline: 'never' });
  assert.equal(await service.provide(req('let a; '), live().signal, () => true), 'a = 1;');
  await new Promise((res) => setTimeout(res, 50));
  assert.equal(engine.calls.length, 2, 'a prefetch ran');
  assert.equal(await service.provide(req('let a; a = 1;', 2), live().signal, () => true), ' // next');
  assert.equal(engine.calls.length, 2, 'the accepted position was served from the prefetch');
});

test('a prefetch keeps the request\'s prefix window start, so it reuses the KV cache of the text before the cursor', async () => {
  const engine = new FakeEngine((r: CompletionRequest) => [r.prefix.endsWith('a = 1;') ? ' // next' : 'a = 1;'], 2);
  const { service, req } = setup(engine, { prefetch: true, multiline: 'never' });
  const text = `${lines(400).join('')}let a; `;
  assert.equal(await service.provide(req(text), live().signal, () => true), 'a = 1;');
  await new Promise((res) => setTimeout(res, 50));
  assert.equal(engine.calls.length, 2, 'a prefetch ran');
  assert.ok(engine.calls[0]!.prefix.length < text.length, 'the window cut the prefix');
  assert.equal(engine.calls[1]!.prefix, `${engine.calls[0]!.prefix}a = 1;`);
});

test('completion ids are unique for the life of the window, across engines that each count from 1', async () => {
  let engine = new FakeEngine(() => ['y;'], 1);
  const log = quietLog();
  const history = new TraceHistory();
  const completion = { ...defaults.completion, debounceMs: 0, prefetch: false, multiline: 'never' as const };
  const service = new CompletionService({ engine: () => engine, decode: () => defaults.decode, completion: () => completion, log, history });
  const at = (text: string): ProvideRequest => ({ uri: 'file:///a.ts', languageId: 'typescript', version: 1, offset: text.length, ...windowsAt(stringSource(text), text.length, completion) });
  await service.provide(at('a = '), live().signal, () => true);
  await service.provide(at('b = '), live().signal, () => true);
  await service.idle();
  // A model switch: a new engine (a new process), whose own trace ids start again at 1.
  engine = new FakeEngine(() => ['z;'], 1);
  service.resetCache();
  await service.provide(at('c = '), live().signal, () => true);
  await service.idle();
  const ids = history.list().map((r) => r.trace.id);
  assert.deepEqual(ids, [1, 2, 3]);
  assert.equal(history.list()[2]!.trace.model, 'fake');
  assert.ok(log.lines.some((l) => l.startsWith('completion #3 ')), 'the log names the window-wide id');
});

test('a prefetch is recorded as unseen until the user accepts into it; then it is the completion followed', async () => {
  const engine = new FakeEngine((r: CompletionRequest) => [r.prefix.endsWith('a = 1;') ? ' // next' : 'a = 1;'], 2);
  const { service, req, history } = setup(engine, { prefetch: true, multiline: 'never' });
  const served: number[] = [];
  history.onDidServe((r) => served.push(r.trace.id));
  await service.provide(req('let a; '), live().signal, () => true);
  await new Promise((res) => setTimeout(res, 50));
  const [first, prefetch] = history.list();
  assert.deepEqual([first!.prefetch, first!.served, prefetch!.prefetch, prefetch!.served], [false, true, true, false]);
  assert.equal(history.current(), first, 'the unseen prefetch is not the current completion');
  assert.ok(!served.includes(prefetch!.trace.id));
  assert.equal(await service.provide(req('let a; a = 1;', 2), live().signal, () => true), ' // next');
  assert.equal(served.at(-1), prefetch!.trace.id);
  assert.equal(history.current(), prefetch);
  assert.equal(history.current(prefetch!.trace.id), undefined, 'nothing newer than an id given');
});

test('every finished decode is recorded with its trace, and the log line names its strategy', async () => {
  const engine = new FakeEngine(() => ['y;'], 1);
  const { service, req, history, log } = setup(engine, { multiline: 'never' });
  const seen: number[] = [];
  history.onDidRecordTrace((r) => seen.push(r.trace.id));
  await service.provide(req('x = '), live().signal, () => true);
  await service.idle();
  assert.deepEqual(seen, [1]);
  assert.equal(history.last()?.shown, 'y;');
  assert.match(log.lines.find((l) => l.startsWith('completion'))!, /strategy=auto .* maxInFlight=1/);
});

test('engine errors are logged and resolve with nothing; a suspended service offers nothing', async () => {
  const broken = { async *complete(): AsyncGenerator<never> { throw new Error('boom'); } };
  const log = quietLog();
  const completion = { ...defaults.completion, debounceMs: 0, prefetch: false };
  const service = new CompletionService({ engine: () => broken, decode: () => defaults.decode, completion: () => completion, log, history: new TraceHistory() });
  const r: ProvideRequest = { uri: 'u', languageId: 'ts', version: 1, offset: 1, ...windowsAt(stringSource('a'), 1, completion) };
  assert.equal(await service.provide(r, live().signal, () => true), undefined);
  assert.match(log.errors[0]!, /boom/);
  const resume = service.suspend();
  assert.equal(await service.provide({ ...r, prefix: 'b' }, live().signal, () => true), undefined);
  resume();
});
