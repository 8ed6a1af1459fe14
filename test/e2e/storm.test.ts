// A keystroke storm in real VS Code (code-server): 2,000 keystrokes at 10 ms across two files, with a
// completion in flight most of the time. At most one decode in flight, the last suggestion decoded for
// the final text, no error, and the extension host's event loop (logged every second by the extension
// under HASTEN_EVENT_LOOP_REPORT_MS) blocked at most 20 ms at p99 while typing.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { waitForActivation, withVSCode } from './harness';
import { cursorPosition, hastenLog, offsetOf, openFile, saveAndRead, stableGhostText, waitForReady } from './editor';

const E2E_TIMEOUT_MS = 15 * 60_000;
const KEYS = 2000;
const ROUNDS = 4;
const COMPLETION_LINE = /\[info\] completion #\d+ strategy=\S+ model=\S+ .*?(prefetch|at=v(\d+):(\d+)) maxInFlight=(\d+)/g;
const LOOP_LINE = /event loop over \d+ ms: p50 ([\d.]+) ms, p99 ([\d.]+) ms, max ([\d.]+) ms, (\d+) samples, ([\d.]+)% over 20 ms/g;

const TS = 'const total = values.reduce((sum, v) => sum + v, 0);\nconst mean = total / values.length;\nif (mean > limit) { return mean; }\n';
const PY = 'total = sum(values)\nmean = total / len(values)\nif mean > limit:\n    return mean\n';
/** `n` keystrokes of `text`, repeated. */
const keys = (text: string, n: number) => text.repeat(Math.ceil(n / text.length)).slice(0, n);

test(`storm: ${KEYS} keystrokes at 10 ms across two files, one decode in flight, the final suggestion for the final text, event loop p99 ≤ 20 ms`, { timeout: E2E_TIMEOUT_MS }, async () => {
  await withVSCode('storm', { settings: { 'files.autoSave': 'off' }, env: { HASTEN_EVENT_LOOP_REPORT_MS: '1000' } }, async (vscode) => {
    const { page, userDataDir, workspace } = vscode;
    await waitForActivation(page);
    await waitForReady(page);
    const from = hastenLog(userDataDir).length;
    const started = Date.now();
    let file = '';
    for (let round = 0; round < ROUNDS; round++) {
      const [name, text] = round % 2 === 0 ? ['fibonacci.ts', TS] : ['stats.py', PY];
      await openFile(page, name);
      await page.keyboard.press('Control+End');
      await page.keyboard.type(keys(text, KEYS / ROUNDS), { delay: 10 });
      file = join(workspace, 'src', name);
    }
    const typingMs = Date.now() - started;
    const typed = hastenLog(userDataDir).length;
    await stableGhostText(page);
    const text = await saveAndRead(page, file);
    const cursor = offsetOf(text, await cursorPosition(page));
    const log = hastenLog(userDataDir).slice(from);
    assert.doesNotMatch(log, /\[error\]/, 'no error in the log');
    const lines = [...log.matchAll(COMPLETION_LINE)];
    assert.ok(lines.length > 0, 'completions ran');
    assert.ok(lines.every((m) => m[4] === '1'), `at most one decode in flight: ${[...new Set(lines.map((m) => m[4]))].join(',')}`);
    const last = lines.filter((m) => m[1] !== 'prefetch').at(-1)!;
    assert.equal(Number(last[3]), cursor, 'the suggestion shown was decoded for the final cursor');
    // Windows of one second that ended while typing.
    const loops = [...hastenLog(userDataDir).slice(from, typed).matchAll(LOOP_LINE)].map((m) => ({ p99: Number(m[2]), max: Number(m[3]), samples: Number(m[4]), over: Number(m[5]) / 100 }));
    assert.ok(loops.length >= 5, `event-loop reports while typing (${loops.length})`);
    // Over the whole storm, p99 ≤ 20 ms means at most 1% of the samples were delayed more than 20 ms.
    const samples = loops.reduce((n, l) => n + l.samples, 0);
    const over = loops.reduce((n, l) => n + l.over * l.samples, 0) / samples;
    console.log(
      `# storm: ${KEYS} keys in ${(typingMs / 1000).toFixed(1)} s, ${lines.length} completions logged; extension host event loop: ` +
        `${(100 * over).toFixed(2)}% of ${samples} samples over 20 ms (p99 ${over <= 0.01 ? '≤' : '>'} 20 ms), worst second p99 ${Math.max(...loops.map((l) => l.p99))} ms, max block ${Math.max(...loops.map((l) => l.max))} ms`,
    );
    assert.ok(over <= 0.01, `the extension host's event loop p99 over the storm is ≤ 20 ms (${(100 * over).toFixed(2)}% of samples over 20 ms)`);
  });
});
