// Inline completions in real VS Code (code-server) with the packaged extension and its bundled
// models. The assertions hold for any model that writes something: ghost text appears, Tab inserts
// exactly that text, the trace records the chosen strategy, rapid typing leaves no error and one
// decode in flight, and a bad model folder falls back to the bundled model.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { statusItemId, waitForActivation, withVSCode, type VSCode } from './harness';
import { cursorPosition, hastenLog, offsetOf, openFile, pick, runCommand, saveAndRead, stableGhostText, typeAndAccept, waitForLog, waitForReady } from './editor';

const E2E_TIMEOUT_MS = 20 * 60_000;
/** code-server saves after a delay by default (a web build); the tests save explicitly, and read what was saved. */
const SETTINGS = { 'files.autoSave': 'off' };
const COMPLETION_LINE = /\[info\] completion #\d+ strategy=(\S+) model=(\S+) .*?(prefetch|at=v(\d+):(\d+)) maxInFlight=(\d+)/g;

/** Runs a step as a subtest; a failure leaves a screenshot named after it. */
async function step(t: TestContext, vscode: VSCode, name: string, body: () => Promise<void>): Promise<void> {
  await t.test(name, async () => {
    try {
      await body();
    } catch (err) {
      const saved = await vscode.saveFailure(`completions ${name}`).catch((e: unknown) => `(screenshot failed: ${String(e)})`);
      throw new Error(`${err instanceof Error ? err.message : String(err)}\nscreenshot: ${saved}`, { cause: err });
    }
  });
}

function completionLines(log: string): RegExpExecArray[] {
  return [...log.matchAll(COMPLETION_LINE)];
}

test('inline completions: TypeScript and Python ghost text with Tab, strategy switching, rapid typing', { timeout: E2E_TIMEOUT_MS }, async (t) => {
  await withVSCode(t.name, { settings: SETTINGS }, async (vscode) => {
    const { page, userDataDir, workspace } = vscode;
    await waitForActivation(page);
    await waitForReady(page);

    await step(t, vscode, 'TypeScript: ghost text from the bundled model, Tab inserts it', async () => {
      await openFile(page, 'fibonacci.ts');
      const ghost = await typeAndAccept(page, join(workspace, 'src', 'fibonacci.ts'), '\nexport function product(values: readonly number[]): number {\n');
      assert.ok(ghost.trim().length > 0);
      const lines = completionLines(hastenLog(userDataDir));
      assert.ok(lines.some((m) => m[2] === 'hasten-target'), 'the bundled target model produced it');
    });

    await step(t, vscode, 'Python: ghost text from the bundled model, Tab inserts it', async () => {
      await openFile(page, 'stats.py');
      const ghost = await typeAndAccept(page, join(workspace, 'src', 'stats.py'), '\n\ndef median(values):\n');
      assert.ok(ghost.trim().length > 0);
    });

    await step(t, vscode, 'switching the strategy from the palette changes the strategy in the next trace', async () => {
      for (const [label, id, typed] of [['Autoregressive', 'autoregressive', '\n\ndef total(values):\n'], ['Prompt lookup', 'prompt-lookup', '\n\ndef count(values):\n']] as const) {
        await runCommand(page, 'Hasten: Select Decoding Strategy');
        await pick(page, label);
        const switched = await waitForLog(userDataDir, new RegExp(`Strategy: ${id} \\(no reload needed\\)`));
        const from = hastenLog(userDataDir).indexOf(switched[0]) + switched[0].length;
        await page.keyboard.press('Escape');
        await page.keyboard.press('Control+End');
        await page.keyboard.type(typed, { delay: 25 });
        const next = await waitForLog(userDataDir, /\[info\] completion #\d+ strategy=(\S+)/, from);
        assert.equal(next[1], id, `the first completion after choosing ${label}`);
      }
    });

    await step(t, vscode, 'rapid typing: 200 keystrokes at 20 ms, no error, one decode in flight, final suggestion for the final text', async () => {
      await runCommand(page, 'Hasten: Select Decoding Strategy');
      await pick(page, 'Auto');
      await openFile(page, 'fibonacci.ts');
      await page.keyboard.press('Control+End');
      const from = hastenLog(userDataDir).length;
      const body = ['\nexport function clamp(x: number, lo: number, hi: number): number {\n', 'const low = Math.max(x, lo);\n', 'const high = Math.min(low, hi);\n', 'if (high !== x) { console.log(x, low, high); }\n'].join('');
      const keys = body.padStart(200, ' ');
      assert.equal(keys.length, 200);
      const started = Date.now();
      await page.keyboard.type(keys, { delay: 20 });
      const typingMs = Date.now() - started;
      await stableGhostText(page);
      const text = await saveAndRead(page, join(workspace, 'src', 'fibonacci.ts'));
      const cursor = offsetOf(text, await cursorPosition(page));
      const log = hastenLog(userDataDir).slice(from);
      assert.doesNotMatch(log, /\[error\]/, 'no error in the log');
      const lines = completionLines(log);
      assert.ok(lines.length > 0, 'completions ran');
      assert.ok(lines.every((m) => m[6] === '1'), `at most one decode in flight: ${lines.map((m) => m[6]).join(',')}`);
      const last = lines.filter((m) => m[3] !== 'prefetch').at(-1)!;
      assert.equal(Number(last[5]), cursor, `the suggestion shown was decoded for the final cursor (typing took ${typingMs} ms)`);
      const decodedWhileTyping = lines.length;
      assert.ok(decodedWhileTyping < 200, `superseded keystrokes did not each finish a decode (${decodedWhileTyping})`);
    });
  });
});

test('a bad model folder shows a clear error, and completions fall back to the bundled model', { timeout: E2E_TIMEOUT_MS }, async (t) => {
  const bad = mkdtempSync(join(tmpdir(), 'hasten-bad-model-'));
  const badSetting = join(bad, 'from-settings');
  const badPicked = join(bad, 'picked');
  mkdirSync(badSetting);
  mkdirSync(badPicked);
  writeFileSync(join(badSetting, 'config.json'), '{ not json');
  try {
    await withVSCode(t.name, { settings: { ...SETTINGS, 'hasten.model': badSetting } }, async (vscode) => {
      const { page, userDataDir, workspace } = vscode;
      await waitForActivation(page);
      await waitForReady(page);
      await page.locator(`[id="${statusItemId()}"] .codicon-warning`).waitFor();
      await page.locator('.notifications-toasts', { hasText: 'config.json is not valid JSON' }).waitFor();
      await page.locator('.notifications-toasts', { hasText: 'Completions use the bundled model hasten-target instead' }).waitFor();

      await openFile(page, 'stats.py');
      await runCommand(page, 'Hasten: Select Model');
      await pick(page, 'Folder on disk');
      // VS Code's simple file dialog fills in its starting folder asynchronously, and on a loaded machine more than
      // once (it lists the folder, then sets the value again): wait until the value has held still for a second, or
      // it lands after our path. Then type ours until it holds.
      const input = page.locator('.quick-input-widget input');
      const value = () => input.inputValue();
      let last = '';
      for (let i = 0, still = 0; i < 150 && still < 10; i++) {
        await page.waitForTimeout(100);
        const now = await value();
        still = now && now === last ? still + 1 : 0;
        last = now;
      }
      await input.fill(`${badPicked}/`);
      for (let i = 0; i < 150 && (await value()) !== `${badPicked}/`; i++) {
        await page.waitForTimeout(100);
        if (i % 10 === 9) await input.fill(`${badPicked}/`);
      }
      assert.equal(await value(), `${badPicked}/`, 'the file dialog holds the typed path');
      // While the dialog is still listing the folder it has just moved into, it can swallow Enter (seen once in CI:
      // the dialog stayed open on our path). Press again while it is open and still holds our path.
      const dialog = page.locator('.quick-input-widget');
      for (let i = 0; i < 5 && (await dialog.isVisible()) && (await value()) === `${badPicked}/`; i++) {
        await page.keyboard.press('Enter');
        await dialog.waitFor({ state: 'hidden', timeout: 2_000 }).catch(() => {});
      }
      await page.locator('.notifications-toasts', { hasText: `${badPicked} is not a usable model` }).waitFor();
      await page.locator('.notifications-toasts', { hasText: 'config.json is missing' }).waitFor();
      await waitForLog(userDataDir, /\[error\] Hasten: .* is not a usable model/);

      const from = hastenLog(userDataDir).length;
      const ghost = await typeAndAccept(page, join(workspace, 'src', 'stats.py'), '\n\ndef median(values):\n');
      assert.ok(ghost.trim().length > 0);
      const lines = completionLines(hastenLog(userDataDir).slice(from));
      assert.ok(lines.length > 0 && lines.every((m) => m[2] === 'hasten-target'), 'the bundled model served the completion');
    });
  } finally {
    rmSync(bad, { recursive: true, force: true });
  }
});
