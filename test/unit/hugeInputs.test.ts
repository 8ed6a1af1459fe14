// Huge inputs: a 5 MB file (long lines, and minified on one line) and a 100,000-line file. Nothing
// that builds a prompt may block the extension host's event loop for more than 20 ms: its windows,
// extra-context chunks and preamble, and handing a 5 MB document to the engine process for retrieval
// (the IPC writes, in parts). The engine process's prompt costs what the windows it keeps cost.
// Each figure is the least CPU time of several runs: the work's own cost, without the stalls a shared
// machine adds to any single run (the event-loop figures of the whole pipeline are in bench:provider).
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { stringSource, windowsAt } from '../../src/completion/context';
import { IPC_PART_CHARS, ProcessEngine } from '../../src/completion/processEngine';
import { ContextRing, chunkAround } from '../../src/completion/ring';
import { Engine } from '../../src/engine';

const ROOT = path.join(__dirname, '..', '..');
const MODEL = path.join(ROOT, 'models', 'hasten-target');
const BUDGET_MS = 20;

const code = (i: number) => `    const value${i} = compute(${i}, items[${i % 97}]) + offset; // step ${i}`;
const FIVE_MB = Array.from({ length: 75_000 }, (_, i) => code(i)).join('\n');
const MINIFIED = FIVE_MB.replace(/\n/g, ';');
const LINES_100K = Array.from({ length: 100_000 }, (_, i) => `  x${i} = f(x${i - 1});`).join('\n');
const FILES = { '5 MB': FIVE_MB, '5 MB minified (one line)': MINIFIED, '100,000 lines': LINES_100K };
/** The largest windows the settings allow (hasten.context.prefixChars / suffixChars maximum). */
const WIDEST = { prefixChars: 100_000, suffixChars: 100_000, multiline: 'auto' as const, maxLines: 8 };

/**
 * The least CPU time (this process's user + system) of `runs` calls of `f`, in ms: the work's own cost.
 * On an idle machine that is the wall time the event loop is blocked; on a loaded one (CI beside other
 * jobs) the wall time adds the time the scheduler gives others, which says nothing about this code.
 */
function fastest(f: () => unknown, runs = 5): number {
  let best = Infinity;
  for (let i = 0; i < runs; i++) {
    const c0 = process.cpuUsage();
    f();
    const c = process.cpuUsage(c0);
    best = Math.min(best, (c.user + c.system) / 1000);
  }
  return best;
}

test('huge files are checked at their real sizes', () => {
  assert.ok(FIVE_MB.length >= 5e6 && MINIFIED.length === FIVE_MB.length && !MINIFIED.includes('\n'));
  assert.equal(LINES_100K.split('\n').length, 100_000);
});

for (const [name, text] of Object.entries(FILES)) {
  test(`${name}: the extension host builds a request (windows, extra context) in under ${BUDGET_MS} ms anywhere in the file`, () => {
    const ring = new ContextRing({ capacity: 256, chunkLines: 256, similarity: 0.7 });
    const lines = text.split('\n').length;
    // A full ring of the largest chunks the settings allow, from this file.
    for (let i = 0; i < 256; i++) ring.add(`f${i}`, chunkAround(text, Math.floor((i * lines) / 256), 256));
    for (const at of [0, 0.5, 1]) {
      const offset = Math.floor(at * text.length);
      const ms = fastest(() => {
        const w = windowsAt(stringSource(text), offset, WIDEST);
        ring.pick(w.prefix + w.suffix, 100_000).map(({ source, text }) => ({ source, text }));
      });
      assert.ok(ms < BUDGET_MS, `request at ${at * 100}% took ${ms.toFixed(1)} ms`);
    }
    const ms = fastest(() => chunkAround(text, Math.floor(lines / 2), 256));
    assert.ok(ms < BUDGET_MS, `an extra-context chunk around an edit took ${ms.toFixed(1)} ms`);
  });
}

let engine: Engine;
let remote: ProcessEngine;
before(async () => {
  engine = await Engine.load({ modelDir: MODEL, draftDir: null, cmlmDir: null });
  remote = await ProcessEngine.load({ modelDir: MODEL, draftDir: null, cmlmDir: null }, path.join(ROOT, 'src', 'completion', 'engineProcess.ts'));
});
after(async () => {
  await engine?.dispose();
  await remote?.dispose();
});

test('the engine process builds a prompt from a whole 5 MB file as prefix and suffix at the cost of the windows it keeps (it trims before tokenising)', { timeout: 60_000 }, (t) => {
  // The engine process is not the extension host's thread, and its prompt's cost is the tokeniser's on
  // the characters kept around the cursor: bounded by the context, not by the file. Dense text (the
  // 100,000-line file: 1.6 characters a token) costs the most. So the whole file must cost what the
  // windows around the cursor cost alone (a 2.5 MB prefix tokenised whole takes seconds), within a
  // margin for timer noise; the absolute figure is reported for the record.
  const WINDOW = 32_000;
  for (const [name, text] of Object.entries(FILES)) {
    const half = text.length >> 1;
    // Alternated, so a burst of other CPU time in this process (garbage collection, or threads left busy by the
    // previous test's inference: the cause was not found) weighs on both alike: once the whole file's 5 runs in a
    // row took at least 15.4 ms against 5.0 for the windows' 5 after them (4.6 against 4.7 in the CI run before).
    let whole = Infinity;
    let windows = Infinity;
    for (let i = 0; i < 5; i++) {
      whole = Math.min(whole, fastest(() => engine.promptFor(text.slice(0, half), text.slice(half), 48), 1));
      windows = Math.min(windows, fastest(() => engine.promptFor(text.slice(half - WINDOW, half), text.slice(half, half + WINDOW), 48), 1));
    }
    assert.ok(whole < 2 * windows + 5, `${name}: ${whole.toFixed(1)} ms for the whole file, ${windows.toFixed(1)} ms for ${WINDOW} characters either side`);
    assert.ok(engine.promptFor(text.slice(0, half), text.slice(half), 48).ids.length <= engine.target.contextLength);
    t.diagnostic(`${name}: ${whole.toFixed(1)} ms (windows alone ${windows.toFixed(1)} ms)`);
  }
});

test(`handing a 5 MB document to the engine process for retrieval never blocks this thread ${BUDGET_MS} ms at a time`, { timeout: 120_000 }, async () => {
  // Serialising and writing an IPC message is synchronous; a 5 MB one took 20-27 ms. The document goes
  // in parts, one per turn of the event loop: the longest turn is what typing would wait behind.
  // The least of 5 handoffs' longest turns, for the same reason as fastest().
  // Whether one message's write blocks depends on how much the pipe takes at once (one 5 MB message
  // took 1.3-33 ms here), so the parts are checked as well: no message carries more than one.
  const child = (remote as unknown as { child: { send: (m: unknown, ...rest: unknown[]) => boolean } }).child;
  const send = child.send.bind(child);
  let largest = 0;
  child.send = (m: unknown, ...rest: unknown[]) => {
    const text = (m as { text?: unknown }).text;
    if (typeof text === 'string') largest = Math.max(largest, text.length);
    return send(m, ...rest);
  };
  let best = Infinity;
  for (let i = 0; i < 5; i++) {
    let longest = 0;
    let last = performance.now();
    let running = true;
    const tick = () => {
      const now = performance.now();
      longest = Math.max(longest, now - last);
      last = now;
      if (running) setImmediate(tick);
    };
    const t0 = performance.now();
    const indexed = remote.retrieval.update(`file:///huge-${i}.ts`, FIVE_MB);
    longest = performance.now() - t0;
    last = performance.now();
    setImmediate(tick);
    await indexed;
    running = false;
    best = Math.min(best, longest);
  }
  child.send = send;
  assert.ok(largest <= IPC_PART_CHARS && largest <= 512 * 1024, `one IPC message carried ${largest} characters of the document`);
  console.log(`# 5 MB retrieval handoff: longest event-loop turn ${best.toFixed(1)} ms (least of 5)`);
  assert.ok(best < BUDGET_MS, `the longest synchronous stretch of the handoff took ${best.toFixed(1)} ms`);
});
