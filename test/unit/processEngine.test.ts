// The engine in its own process: same completions as in this thread, aborts, the engine's own
// errors (cause and fix), and retrieval updates through IPC.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Engine, HastenError, isAbortError } from '../../src/engine';
import { IPC_PART_CHARS, ProcessEngine, isEngineExit, type EngineExit } from '../../src/completion/processEngine';

const ROOT = path.join(__dirname, '..', '..');
const ENTRY = path.join(ROOT, 'src', 'completion', 'engineProcess.ts');
const MODEL = path.join(ROOT, 'models', 'hasten-target');
const FILE = fs.readFileSync(path.join(ROOT, 'test', 'fixtures', 'workspace', 'src', 'fibonacci.ts'), 'utf8');

let engine: ProcessEngine;
before(async () => {
  engine = await ProcessEngine.load({ modelDir: MODEL, draftDir: null }, ENTRY);
});
after(() => engine?.dispose());

async function text(e: Pick<Engine, 'complete'> | ProcessEngine, prefix: string, signal?: AbortSignal): Promise<{ text: string; tokens: number; strategy: string }> {
  let last;
  for await (const u of e.complete({ prefix, suffix: '', strategy: 'autoregressive', maxNewTokens: 12, ...(signal ? { signal } : {}) })) last = u;
  return { text: last!.text, tokens: last!.trace.tokens, strategy: last!.trace.strategy };
}

test('the engine in its own process completes exactly as the engine in this thread, with the final trace', { timeout: 120_000 }, async () => {
  const local = await Engine.load({ modelDir: MODEL, draftDir: null });
  try {
    for (const cut of [60, 200]) assert.deepEqual(await text(engine, FILE.slice(0, cut)), await text(local, FILE.slice(0, cut)));
  } finally {
    await local.dispose();
  }
  assert.equal(engine.target.folder.name, 'hasten-target');
  assert.equal(engine.draft, null);
  assert.ok(engine.available().includes('autoregressive'));
});

test('the stop rule travels as the cursor context and stops decoding in the engine', { timeout: 60_000 }, async () => {
  let last;
  const stopContext = { linePrefix: 'x', lineSuffix: '', nextLines: [], mode: 'never' as const, maxLines: 1 };
  for await (const u of engine.complete({ prefix: FILE, suffix: '', strategy: 'autoregressive', maxNewTokens: 40, stopContext })) last = u;
  // With mode never, decoding stops at the first newline (or earlier at the end of text or the budget).
  assert.ok(last!.trace.stopReason !== 'length' || !last!.text.slice(0, -1).includes('\n'));
  assert.ok(last!.text.split('\n').length <= 2, JSON.stringify(last!.text));
});

test('aborting stops a completion in the engine process with an AbortError', { timeout: 60_000 }, async () => {
  const ctrl = new AbortController();
  ctrl.abort();
  await assert.rejects(text(engine, FILE, ctrl.signal), (err) => isAbortError(err));
  // The engine is still usable afterwards.
  assert.ok((await text(engine, FILE.slice(0, 100))).tokens > 0);
});

test('a bad model folder fails to load with the engine\'s error, cause and fix', { timeout: 60_000 }, async () => {
  const bad = fs.mkdtempSync(path.join(os.tmpdir(), 'hasten-engine-bad-'));
  try {
    await assert.rejects(ProcessEngine.load({ modelDir: bad }, ENTRY), (err) => err instanceof HastenError && err.code === 'model-missing' && /config\.json/.test(err.message));
  } finally {
    fs.rmSync(bad, { recursive: true, force: true });
  }
});

test('retrieval updates and reset go through the engine', { timeout: 60_000 }, async () => {
  await engine.retrieval.update('file:///a.ts', FILE);
  engine.retrieval.remove('file:///a.ts');
  await engine.reset();
});

test('a document bigger than one IPC message arrives whole, in parts: retrieval drafts from its start as in this thread; an abort between parts rejects and leaves the engine usable', { timeout: 120_000 }, async () => {
  // A function that exists nowhere else in the first part, then about five parts of filler (an emoji
  // straddling the first cut): the engine must have the document whole to draft from its start.
  const head = `${FILE}\nexport function zebraCrossingTotals(rows: number[][]): number[] {\n  return rows.map((row) => row.reduce((a, b) => a + b, 0));\n}\n`;
  const filler = Array.from({ length: 80_000 }, (_, i) => `let v${i} = ${i};`).join('\n');
  const cut = IPC_PART_CHARS - 1 - head.length;
  const doc = `${head}${filler.slice(0, cut)}😀${filler.slice(cut)}`;
  assert.ok(doc.length > 4 * IPC_PART_CHARS && doc.charCodeAt(IPC_PART_CHARS - 1) === 0xd83d);
  const prefix = 'export function zebraCrossingTotals(rows: number[][]): number[] {\n  return rows.map((row) => row.';
  const run = async (e: Pick<Engine, 'complete'> | ProcessEngine) => {
    let last;
    for await (const u of e.complete({ prefix, suffix: '', strategy: 'retrieval', maxNewTokens: 16 })) last = u;
    return { text: last!.text, steps: last!.trace.steps.length, tokens: last!.trace.tokens };
  };
  const local = await Engine.load({ modelDir: MODEL, draftDir: null });
  try {
    await local.retrieval.update('file:///big.ts', doc);
    await engine.retrieval.update('file:///big.ts', doc);
    const [mine, theirs] = [await run(local), await run(engine)];
    assert.deepEqual(theirs, mine);
    assert.ok(mine.steps < mine.tokens, `drafts from the document's start were accepted (${mine.tokens} tokens in ${mine.steps} steps)`);
  } finally {
    await local.dispose();
  }
  const ctrl = new AbortController();
  const pending = engine.retrieval.update('file:///aborted.ts', doc, ctrl.signal);
  ctrl.abort();
  await assert.rejects(pending, (err) => isAbortError(err));
  engine.retrieval.remove('file:///big.ts');
  assert.ok((await text(engine, FILE.slice(0, 100))).tokens > 0, 'still usable');
});

test('updates stream across the process boundary: the text grows step by step, the trace comes with the last', { timeout: 60_000 }, async () => {
  const updates: { text: string; done: boolean; steps: number }[] = [];
  for await (const u of engine.complete({ prefix: FILE.slice(0, 300), suffix: '', strategy: 'autoregressive', maxNewTokens: 16 })) updates.push({ text: u.text, done: u.done, steps: u.trace.steps.length });
  assert.ok(updates.length >= 3, `${updates.length} updates`);
  for (let i = 1; i < updates.length; i++) assert.ok(updates[i]!.text.startsWith(updates[i - 1]!.text), 'each update extends the last');
  assert.deepEqual(updates.map((u) => u.done), [...updates.slice(1).map(() => false), true]);
  assert.ok(updates.at(-1)!.steps > 0, 'the final update carries the trace');
  // The live trace grows step by step before the end (the visualiser's live view).
  const live = updates.slice(0, -1).map((u) => u.steps);
  assert.ok(live.every((n, i) => i === 0 || n >= live[i - 1]!), `steps never shrink: ${live.join(',')}`);
  assert.ok(live.at(-1)! > live[0]!, `steps grow while streaming: ${live.join(',')}`);
});

test('the live trace pieced together from the stream matches the final trace step for step', { timeout: 60_000 }, async () => {
  let before: { steps: string; output: number[] } | undefined;
  let final: { steps: string; output: number[] } | undefined;
  for await (const u of engine.complete({ prefix: FILE.slice(0, 250), suffix: '', strategy: 'prompt-lookup', maxNewTokens: 24 })) {
    const snap = { steps: JSON.stringify(u.trace.steps), output: [...u.trace.output] };
    if (u.done) final = snap;
    else before = snap;
  }
  assert.ok(before && final);
  const stepsBefore = JSON.parse(before.steps) as unknown[];
  assert.deepEqual(stepsBefore, (JSON.parse(final.steps) as unknown[]).slice(0, stepsBefore.length), 'the streamed steps are the final steps so far');
  assert.deepEqual(before.output, final.output.slice(0, before.output.length));
});

test('aborting mid-stream stops the decode in the engine process', { timeout: 60_000 }, async () => {
  const ctrl = new AbortController();
  let n = 0;
  await assert.rejects(
    (async () => {
      // Mid-file: the model has more to write (at the file's end it may stop at once).
      for await (const _ of engine.complete({ prefix: FILE.slice(0, 300), suffix: '', strategy: 'autoregressive', maxNewTokens: 200, signal: ctrl.signal })) if (++n === 2) ctrl.abort();
    })(),
    (err) => isAbortError(err),
  );
  assert.ok(n < 10, `stopped within a few steps (${n} updates)`);
});

test('the engine process reports its own memory, separate from this process', { timeout: 30_000 }, async () => {
  const m = await engine.memory();
  assert.ok(m.rss > 20e6 && m.heapUsed > 0 && m.external > 0, JSON.stringify(m));
});

test('a killed engine process ends the completion in flight with an EngineExitError and reports how it ended', { timeout: 60_000 }, async () => {
  const victim = await ProcessEngine.load({ modelDir: MODEL, draftDir: null }, ENTRY);
  const exits: EngineExit[] = [];
  victim.onDidExit((e) => exits.push(e));
  let n = 0;
  await assert.rejects(
    (async () => {
      for await (const _ of victim.complete({ prefix: FILE, suffix: '', strategy: 'autoregressive', maxNewTokens: 200 })) if (++n === 1) process.kill(victim.pid!, 'SIGKILL');
    })(),
    (err) => isEngineExit(err),
  );
  assert.equal(exits.length, 1);
  assert.equal(exits[0]!.signal, 'SIGKILL');
  // Later calls fail the same way instead of hanging.
  await assert.rejects(text(victim, 'x'), (err) => isEngineExit(err));
  await assert.rejects(victim.reset(), (err) => isEngineExit(err));
  await victim.dispose();
});

test('dispose ends the engine process and reports no unasked exit', { timeout: 60_000 }, async () => {
  const e = await ProcessEngine.load({ modelDir: MODEL, draftDir: null }, ENTRY);
  let unasked = 0;
  e.onDidExit(() => unasked++);
  const pid = e.pid!;
  await e.dispose();
  assert.throws(() => process.kill(pid, 0), /ESRCH/, 'the process is gone');
  assert.equal(unasked, 0);
});

test('an engine process whose extension host dies (SIGKILL, no goodbye) exits on its own', { timeout: 60_000 }, async () => {
  const { spawn } = await import('node:child_process');
  // A stand-in extension host: loads an engine process, prints its pid, then waits to be killed.
  const host = spawn(process.execPath, ['--import', 'tsx', '-e', `
    const { ProcessEngine } = require(${JSON.stringify(path.join(ROOT, 'src', 'completion', 'processEngine.ts'))});
    ProcessEngine.load({ modelDir: ${JSON.stringify(MODEL)}, draftDir: null, cmlmDir: null }, ${JSON.stringify(ENTRY)}).then((e) => console.log('engine', e.pid));
    setInterval(() => {}, 1000);
  `], { stdio: ['ignore', 'pipe', 'inherit'] });
  const pid = await new Promise<number>((resolve, reject) => {
    let out = '';
    host.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /engine (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    host.once('exit', () => reject(new Error(`the stand-in host exited: ${out}`)));
  });
  host.kill('SIGKILL');
  const deadline = Date.now() + 10_000;
  let alive = true;
  while (alive && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    try {
      process.kill(pid, 0);
    } catch {
      alive = false;
    }
  }
  if (alive) process.kill(pid, 'SIGKILL');
  assert.equal(alive, false, 'the orphaned engine process exited within 10 s');
});
