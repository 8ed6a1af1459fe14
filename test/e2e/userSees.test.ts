// Issue 18, what a user sees, in real VS Code (code-server): an accepted suggestion keeps the line's
// auto-indent (Python, TypeScript); the visualiser follows the suggestion on screen, not the prefetch
// decoded after it, and the status bar shows that same completion's figures, labelled; a model reload
// clears the figures and completion ids keep counting up; the panel fits 400 px without a sideways
// scroll, and maximised. Screenshots of both widths are left in test-results/ for a person to look at.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import type { FrameLocator, Page } from 'playwright-core';
import { hastenLog, openFile, openPalette, pick, runCommand, stableGhostText, typeAndAccept, waitForLog, waitForReady } from './editor';
import { RESULTS_DIR, statusItemId, waitForActivation, withVSCode, type VSCode } from './harness';

const E2E_TIMEOUT_MS = 20 * 60_000;
const SETTINGS = { 'files.autoSave': 'off', 'hasten.prefetch': true };
/** CompletionService's line per finished decode. */
const COMPLETION = /\[info\] completion #(\d+) strategy=\S+ model=\S+ tokens=(\d+) steps=\d+ (\d+) tok\/s acceptance=(\d+)% .*? (prefetch|at=v\d+:\d+) /g;
const STATUS_FIGURES = /^Hasten(?: · (\d+) tok\/s(?: · (\d+)% accepted)?| · (\d+) tok)?$/;

const webview = (page: Page): FrameLocator => page.frameLocator('iframe.webview.ready').frameLocator('iframe#active-frame');

async function step(t: TestContext, vscode: VSCode, name: string, body: () => Promise<void>): Promise<void> {
  await t.test(name, async () => {
    try {
      await body();
    } catch (err) {
      const saved = await vscode.saveFailure(`user-sees ${name}`).catch((e: unknown) => `(screenshot failed: ${String(e)})`);
      throw new Error(`${err instanceof Error ? err.message : String(err)}\nscreenshot: ${saved}`, { cause: err });
    }
  });
}

function completions(log: string): { id: number; tokens: number; tps: number; acceptance: number; prefetch: boolean }[] {
  return [...log.matchAll(COMPLETION)].map((m) => ({ id: Number(m[1]), tokens: Number(m[2]), tps: Number(m[3]), acceptance: Number(m[4]), prefetch: m[5] === 'prefetch' }));
}

async function statusText(page: Page): Promise<string> {
  return (await page.locator(`[id="${statusItemId()}"]`).innerText()).replace(/\s+/g, ' ').trim();
}

/** Types on a new line after an opener, accepts the suggestion, and returns the accepted line and its indentation. */
async function acceptAfterAutoIndent(page: Page, file: string, typed: string): Promise<{ indent: string; line: string }> {
  const ghost = await typeAndAccept(page, file, typed);
  assert.ok(ghost.trim().length > 0, 'a suggestion was shown');
  const opener = typed.trimEnd().split('\n').at(-1)!;
  const lines = readFileSync(file, 'utf8').split('\n');
  const line = lines[lines.lastIndexOf(opener) + 1]!;
  return { indent: /^[ \t]*/.exec(line)![0], line };
}

/** View: Toggle Maximized Editor Group (its label's spelling differs between releases, so matched whole). */
async function toggleMaximised(page: Page): Promise<void> {
  await openPalette(page, '>maximize editor group');
  await page.locator('.quick-input-list .monaco-list-row').filter({ has: page.locator('.label-name', { hasText: /^View: Toggle Maximi[sz]ed? Editor Group$/ }) }).first().click();
}

/** The webview document's width, its content's width, the picker's right edge and legend chips broken across lines. */
async function layout(view: FrameLocator): Promise<{ width: number; scroll: number; picker: number; brokenChips: number }> {
  return view.locator('body').evaluate((body) => ({
    width: body.ownerDocument.documentElement.clientWidth,
    scroll: body.ownerDocument.documentElement.scrollWidth,
    picker: body.ownerDocument.getElementById('history')!.getBoundingClientRect().right,
    brokenChips: [...body.querySelectorAll('.key')].filter((k) => k.getClientRects().length > 1).length,
  }));
}

test('what a user sees: indentation kept, the visualiser and status bar describe the suggestion on screen, ids unique across reloads, 400 px layout', { timeout: E2E_TIMEOUT_MS }, async (t) => {
  await withVSCode(t.name, { settings: SETTINGS }, async (vscode) => {
    const { page, userDataDir, workspace } = vscode;
    await waitForActivation(page);
    await waitForReady(page);
    mkdirSync(RESULTS_DIR, { recursive: true });

    await step(t, vscode, 'Python: after the auto-indent, the accepted line keeps exactly that indentation', async () => {
      await openFile(page, 'stats.py');
      const { indent, line } = await acceptAfterAutoIndent(page, join(workspace, 'src', 'stats.py'), '\n\ndef median(values):\n');
      assert.equal(indent, '    ', `the accepted line ${JSON.stringify(line)} keeps the 4-space auto-indent`);
      assert.match(line, /^ {4}\S/);
    });

    await step(t, vscode, 'TypeScript: after the auto-indent, the accepted line keeps exactly that indentation', async () => {
      await openFile(page, 'fibonacci.ts');
      const { indent, line } = await acceptAfterAutoIndent(page, join(workspace, 'src', 'fibonacci.ts'), '\nexport function product(values: readonly number[]): number {\n');
      assert.equal(indent, '  ', `the accepted line ${JSON.stringify(line)} keeps the 2-space auto-indent`);
    });

    await step(t, vscode, 'the visualiser and the status bar show the suggestion on screen, not the prefetch decoded after it', async () => {
      await runCommand(page, 'Hasten: Open Visualiser');
      const view = webview(page);
      await view.locator('#follow').waitFor();
      assert.equal(await view.locator('#follow').isChecked(), true);
      await page.keyboard.press('Control+1');
      const from = hastenLog(userDataDir).length;
      await page.keyboard.press('Control+End');
      await page.keyboard.type('\nexport function mean(values: readonly number[]): number {\n', { delay: 25 });
      await stableGhostText(page);
      // The suggestion is on screen and not accepted: the prefetch decoded after it is not what the user sees.
      await waitForLog(userDataDir, /\[info\] completion #\d+ .* prefetch /, from, 60_000);
      const runs = completions(hastenLog(userDataDir).slice(from));
      const shown = runs.filter((r) => !r.prefetch).at(-1)!;
      const prefetch = runs.filter((r) => r.prefetch).at(-1)!;
      assert.ok(prefetch.id > shown.id);
      await view.locator(`#history option[value="${prefetch.id}"]`).waitFor({ state: 'attached' });
      assert.match(await view.locator(`#history option[value="${prefetch.id}"]`).innerText(), /prefetch \(not shown\)/, 'the prefetch is listed and marked');
      await page.waitForTimeout(500);
      assert.equal(await view.locator('#history').inputValue(), String(shown.id), 'Follow newest shows the suggestion on screen');
      assert.doesNotMatch(await view.locator('#summary dd[data-field="File"]').innerText(), /prefetch/);
      const status = await statusText(page);
      const m = STATUS_FIGURES.exec(status);
      assert.ok(m && m[0] !== 'Hasten', `status bar figures: ${status}`);
      if (shown.tokens >= 4) {
        assert.ok(Math.abs(Number(m[1]) - shown.tps) <= 1, `status bar ${status} shows completion #${shown.id}'s ${shown.tps} tok/s`);
        if (m[2] !== undefined) assert.ok(Math.abs(Number(m[2]) - shown.acceptance) <= 1, `status bar ${status} shows #${shown.id}'s ${shown.acceptance}% accepted`);
      } else {
        assert.equal(Number(m[3]), shown.tokens);
      }
      await page.keyboard.press('Escape');
    });

    await step(t, vscode, 'the panel fits 400 px (no sideways page scroll, the picker and legend chips whole) and maximised', async () => {
      const view = webview(page);
      const frame = page.locator('iframe.webview.ready').last();
      // Side by side with the editor: widen or narrow the window until the panel is about 400 px wide.
      for (let width = 1100; width >= 600; width -= 40) {
        await page.setViewportSize({ width, height: 900 });
        await page.waitForTimeout(400);
        const box = await frame.boundingBox();
        if (box && box.width <= 430) break;
      }
      const box = await frame.boundingBox();
      assert.ok(box && box.width <= 430 && box.width >= 300, `panel width ${box?.width}`);
      await page.waitForTimeout(500);
      const narrow = await layout(view);
      await page.screenshot({ path: join(RESULTS_DIR, 'user-sees-400px.png') });
      assert.ok(narrow.scroll <= narrow.width, `no sideways scroll at ${narrow.width} px (content ${narrow.scroll} px)`);
      assert.ok(narrow.picker <= narrow.width, `the completion picker fits (${narrow.picker} > ${narrow.width})`);
      assert.equal(narrow.brokenChips, 0, 'no legend chip breaks across lines');
      await page.setViewportSize({ width: 1400, height: 900 });
      await page.locator('.tab[aria-label^="Hasten Visualiser"]').click();
      await toggleMaximised(page);
      await page.waitForTimeout(800);
      const wide = await layout(view);
      await page.screenshot({ path: join(RESULTS_DIR, 'user-sees-maximised.png') });
      assert.ok(wide.scroll <= wide.width, `no sideways scroll maximised (${wide.scroll} > ${wide.width})`);
      await toggleMaximised(page);
    });

    await step(t, vscode, 'a model reload (another draft model) clears the status bar figures; completion ids keep counting up', async () => {
      const before = completions(hastenLog(userDataDir));
      const from = hastenLog(userDataDir).length;
      await runCommand(page, 'Hasten: Select Model');
      await page.locator('.quick-input-list .monaco-list-row', { hasText: 'Draft for hasten-target' }).first().waitFor();
      await pick(page, 'hasten-draft-s');
      await waitForLog(userDataDir, /Loaded hasten-target .*with draft hasten-draft-s/, from, 120_000);
      await waitForReady(page);
      assert.equal(await statusText(page), 'Hasten', 'no figures from the previous engine');
      await openFile(page, 'stats.py');
      await page.keyboard.press('Control+End');
      await page.keyboard.type('\n\ndef spread(values):\n', { delay: 25 });
      const next = await waitForLog(userDataDir, /\[info\] completion #(\d+) /, from, 120_000);
      const ids = completions(hastenLog(userDataDir)).map((r) => r.id);
      assert.ok(Number(next[1]) > Math.max(...before.map((r) => r.id)), `completion #${next[1]} after #${Math.max(...before.map((r) => r.id))}`);
      assert.equal(new Set(ids).size, ids.length, `no id twice in the window: ${ids.join(',')}`);
    });
  });
});
