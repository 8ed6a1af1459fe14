// The visualiser in real VS Code (code-server): after a completion the panel opened from the command
// palette draws the trace the log reports, switches to the exit-layer strip for an early-exit
// completion, exports an SVG, survives a window reload, and is screenshotted in three themes.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { FrameLocator, Page } from 'playwright-core';
import { svgProblem } from '../../src/protocol';
import { openFile, openPalette, pick, runCommand, waitForLog, waitForReady } from './editor';
import { RESULTS_DIR, waitForActivation, withVSCode } from './harness';

const E2E_TIMEOUT_MS = 20 * 60_000;
/** The log line CompletionService writes for every finished decode. */
/** Only decodes with at least one step record: a one-token completion has none, so no tree to draw. */
const COMPLETION_LINE = /completion #(\d+) strategy=(\S+) .*?tokens=(\d+) steps=([1-9]\d*) .*?acceptance=(\d+)%/;

/** The visualiser's document inside the webview's two iframes. */
const webview = (page: Page): FrameLocator => page.frameLocator('iframe.webview.ready').frameLocator('iframe#active-frame');

async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(RESULTS_DIR, { recursive: true });
  await page.screenshot({ path: join(RESULTS_DIR, `visualiser-${name}.png`) });
}

/** Runs the palette command whose whole label matches `label` (runCommand would take the first row containing it). */
async function runExact(page: Page, query: string, label: RegExp = new RegExp(`^${query}$`)): Promise<void> {
  await openPalette(page, `>${query}`);
  await page.locator('.quick-input-list .monaco-list-row').filter({ has: page.locator('.label-name', { hasText: label }) }).first().click();
}

const MAXIMISE = ['maximize editor group', /^View: Toggle Maximi[sz]ed? Editor Group$/] as const;

/** Switches the colour theme through its picker and waits until the workbench (and so the webview's --vscode-* variables) follows. */
async function setTheme(page: Page, theme: string, workbenchClass: 'vs' | 'vs-dark' | 'hc-black'): Promise<void> {
  await runExact(page, 'Preferences: Color Theme');
  await page.locator('.quick-input-widget input').fill(theme);
  await page.locator('.quick-input-list .monaco-list-row').filter({ has: page.locator('.label-name', { hasText: new RegExp(`^${theme}$`) }) }).first().click();
  await page.locator(`.monaco-workbench.${workbenchClass}`).waitFor();
  await page.waitForTimeout(1000);
}

/**
 * Types at the end of the open file and asks for a completion; returns the log line of the first
 * decode that finished with `strategy` after `from`. The panel shows traces whether or not the
 * multi-line policy left any ghost text, so this waits for the trace, not for ghost text.
 */
async function complete(page: Page, userDataDir: string, text: string, from: number, strategy: string): Promise<RegExpExecArray> {
  await page.keyboard.press('Control+End');
  await page.keyboard.type(text, { delay: 30 });
  await page.keyboard.press('Alt+\\');
  return waitForLog(userDataDir, new RegExp(COMPLETION_LINE.source.replace('(\\S+)', `(${strategy})`)), from, 120_000);
}

/** Clicks through every step and counts the tree's accepted and rejected nodes. */
async function countNodes(view: FrameLocator): Promise<{ steps: number; accepted: number; rejected: number }> {
  const steps = await view.locator('button.step').count();
  let accepted = 0;
  let rejected = 0;
  for (let i = 0; i < steps; i++) {
    await view.locator(`button.step[data-index="${i}"]`).click();
    await view.locator(`button.step.selected[data-index="${i}"]`).waitFor();
    accepted += await view.locator('.tree-svg .node.accepted').count();
    rejected += await view.locator('.tree-svg .node.rejected').count();
  }
  return { steps, accepted, rejected };
}

test('the visualiser draws the completion the log reports, shows exit layers for early exit, exports SVG and survives a reload', { timeout: E2E_TIMEOUT_MS }, async (t) => {
  const settings = { 'hasten.strategy': 'token-tree', 'hasten.prefetch': false, 'hasten.maxTokens': 24, 'workbench.colorTheme': 'Default Dark Modern' };
  await withVSCode(t.name, { settings }, async ({ page, workspace, userDataDir }) => {
    await waitForActivation(page);
    await waitForReady(page);
    await openFile(page, 'fibonacci.ts');

    // 1. A token-tree completion, then the panel from the command palette.
    const first = await complete(page, userDataDir, '\nexport function factorial(n: number): number {\n', 0, 'token-tree');
    const [, id, , , logSteps, logAcceptance] = first;
    await runCommand(page, 'Hasten: Open Visualiser');
    const view = webview(page);
    await view.locator(`#history option[value="${id}"]`).waitFor({ state: 'attached', timeout: 60_000 });
    await view.locator('#follow').uncheck();
    await view.locator('#history').selectOption(id!);
    await view.locator('.tree-svg .node').first().waitFor();
    await view.locator('#summary dd[data-field="Strategy"]', { hasText: 'token-tree' }).waitFor();

    // 2. The drawn trees match the trace: step count and acceptance from the log, node counts from the summary.
    const counts = await countNodes(view);
    assert.equal(counts.steps, Number(logSteps), 'one step button per step of the trace');
    const rate = await view.locator('#summary dd[data-field="Acceptance rate"]').innerText();
    const m = /\((\d+) of (\d+)\)/.exec(rate);
    assert.ok(m, `acceptance shows counts: ${rate}`);
    assert.equal(counts.accepted, Number(m[1]), 'accepted nodes drawn = accepted in the trace');
    assert.equal(counts.accepted + counts.rejected, Number(m[2]), 'accepted + rejected nodes drawn = drafted in the trace');
    if (Number(m[2]) > 0) assert.equal(Math.round((100 * counts.accepted) / Number(m[2])), Number(logAcceptance));
    assert.equal(await view.locator('.strip-svg [data-exit-layers="false"]').count(), 1, 'no exit layers for token-tree');
    // The estimate comes from the decoded steps; a completion whose steps emitted nothing (the model ended
    // it right after its first token, which happens at this cursor with the bundled model) says so instead.
    const tokens = Number(/^(\d+)/.exec(await view.locator('#summary dd[data-field="Tokens · steps"]').innerText())?.[1]);
    assert.match(await view.locator('#estimate').innerText(), tokens > 1 ? /Speed-up is an estimate: tokens per step/ : /Speed-up is an estimate: no tokens were decoded/);
    await view.locator('button.step[data-index="0"]').click();
    await view.locator('.tree-svg .node.accepted, .tree-svg .node.root').first().hover();
    assert.match(await view.locator('#details').innerText(), /.+/);
    await page.setViewportSize({ width: 1400, height: 1300 });
    await runExact(page, ...MAXIMISE);
    await page.waitForTimeout(800);
    await screenshot(page, 'dark');

    // 3. The same view in light and high-contrast themes (the screenshots are for a person to look at).
    await setTheme(page, 'Light Modern', 'vs');
    await screenshot(page, 'light');
    await setTheme(page, 'Dark High Contrast', 'hc-black');
    await screenshot(page, 'high-contrast');
    await setTheme(page, 'Dark Modern', 'vs-dark');
    await runExact(page, ...MAXIMISE);

    // 4. Export: the webview posts the SVG, the extension validates it and saves it through the dialog.
    await view.locator('#export').click();
    const dialog = page.locator('.quick-input-widget input');
    await dialog.waitFor({ state: 'visible' });
    // The simple file dialog fills in the suggested path a moment after it opens.
    for (let i = 0; i < 100 && !/\.svg$/.test(await dialog.inputValue()); i++) await page.waitForTimeout(100);
    assert.match(await dialog.inputValue(), /hasten-completion-\d+-step-1\.svg$/);
    await page.keyboard.press('Enter');
    const exported = join(workspace, `hasten-completion-${id}-step-1.svg`);
    for (let i = 0; i < 100 && !existsSync(exported); i++) await page.waitForTimeout(100);
    const svg = readFileSync(exported, 'utf8');
    assert.equal(svgProblem(svg), null);
    assert.ok(!svg.includes('var('), 'colours resolved for a standalone file');
    assert.match(svg, /class="node root"/);
    await view.locator('#status', { hasText: 'Saved' }).waitFor();

    // 5. Early exit: the next completion's strip is coloured by exit layer, with a legend.
    await runCommand(page, 'Hasten: Select Decoding Strategy');
    await pick(page, 'Early exit');
    await waitForLog(userDataDir, /Strategy: early-exit/, 0, 30_000);
    await page.keyboard.press('Control+1');
    const before = first.index + first[0].length;
    const [, eeId] = await complete(page, userDataDir, '\nexport function square(n: number): number {\n', before, 'early-exit');
    // Pinned, so a decode that starts meanwhile (shown live while following) cannot replace it.
    await view.locator(`#history option[value="${eeId}"]`).waitFor({ state: 'attached', timeout: 30_000 });
    await view.locator('#history').selectOption(eeId!);
    await view.locator('#summary dd[data-field="Strategy"]', { hasText: 'early-exit' }).waitFor({ timeout: 30_000 });
    await view.locator('.strip-svg [data-exit-layers="true"]').waitFor();
    assert.ok((await view.locator('.strip-svg .token[data-exit-layer]').count()) > 0);
    assert.match(await view.locator('#strip-title').innerText(), /Exit layers/);
    assert.match(await view.locator('.strip-svg .legend').textContent() ?? '', /layers? \d/);
    await screenshot(page, 'early-exit');

    // 6. A window reload restores the panel from the webview's saved state.
    await runCommand(page, 'Developer: Reload Window');
    await page.locator('.monaco-workbench').waitFor();
    await webview(page).locator('.tree-svg .node').first().waitFor({ timeout: 90_000 });
    await webview(page).locator('#summary dd[data-field="Strategy"]', { hasText: 'early-exit' }).waitFor();
  });
});
