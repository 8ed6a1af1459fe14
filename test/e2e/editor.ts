// Editor-level helpers for the completion end-to-end tests: opening files, reading ghost text,
// the cursor position, saved text, and Hasten's own log file.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { statusItemId } from './harness';

/** Opens a workspace file with Quick Open and waits until its editor has focus and the renderer is idle. */
export async function openFile(page: Page, name: string): Promise<void> {
  const tab = page.locator(`.tab.active[aria-label^="${name}"]`);
  // A file already open in a tab: click the tab (Quick Open right after a quick pick closed can miss).
  const open = page.locator(`.tab[aria-label^="${name}"]`).first();
  if (!(await tab.isVisible()) && (await open.isVisible())) await open.click();
  for (let attempt = 0; attempt < 3 && !(await tab.isVisible()); attempt++) {
    await page.keyboard.press('Control+P');
    const input = page.locator('.quick-input-widget input');
    await input.waitFor({ state: 'visible' });
    await input.fill(name);
    await page.locator('.quick-input-list .monaco-list-row', { hasText: name }).first().waitFor();
    await page.keyboard.press('Enter');
    await tab.waitFor({ timeout: 10_000 }).catch(() => {});
  }
  await tab.waitFor({ timeout: 5_000 });
  await page.locator('.editor-instance .monaco-editor.focused').waitFor();
  // The inline-completion controller is created when the window is idle; keys typed before are not seen by providers.
  await page.evaluate('new Promise((r) => requestIdleCallback(() => requestIdleCallback(() => r())))');
  await page.waitForTimeout(500);
}

/** Waits until Hasten has loaded a model: the status bar shows ready (zap) or ready with a warning. */
export async function waitForReady(page: Page): Promise<void> {
  await page.locator(`[id="${statusItemId()}"]`).locator('.codicon-zap, .codicon-warning').first().waitFor({ timeout: 120_000 });
}

/** The ghost text shown now: the inline part, then each additional line; '' when there is none. */
export function ghostText(page: Page): Promise<string> {
  // A string, not a function: tsx would wrap a function's inner helpers in a __name() the page lacks.
  return page.evaluate<string>(`(() => {
    const editor = document.querySelector('.editor-instance .monaco-editor.focused') || document;
    const first = [...editor.querySelectorAll('.view-lines .ghost-text-decoration')].map((e) => e.textContent || '').join('');
    const more = [...editor.querySelectorAll('.suggest-preview-text .view-line')]
      .map((line) => [...line.querySelectorAll('.ghost-text')].map((e) => e.textContent || '').join(''));
    return [first, ...more].join('\\n').replace(/\\u00a0/g, ' ');
  })()`);
}

/** Waits for ghost text, then until it stops growing (streaming) for `quietMs`; returns it. */
export async function stableGhostText(page: Page, timeoutMs = 60_000, quietMs = 1500): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  let since = Date.now();
  for (;;) {
    const now = await ghostText(page);
    if (now !== last) {
      last = now;
      since = Date.now();
    } else if (now.trim() !== '' && Date.now() - since >= quietMs) {
      return now;
    }
    if (Date.now() > deadline) throw new Error(`no stable ghost text within ${timeoutMs} ms (last: ${JSON.stringify(last)})`);
    await page.waitForTimeout(100);
  }
}

/** The cursor's 1-based line and column from the status bar ("Ln 3, Col 7"). */
export async function cursorPosition(page: Page): Promise<{ line: number; column: number }> {
  const label = await page.locator('[id="status.editor.selection"]').innerText();
  const m = /Ln (\d+), Col (\d+)/.exec(label);
  if (!m) throw new Error(`cannot read the cursor position from "${label}"`);
  return { line: Number(m[1]), column: Number(m[2]) };
}

/** Offset of a 1-based line and column in `text`. */
export function offsetOf(text: string, pos: { line: number; column: number }): number {
  const lines = text.split('\n');
  return lines.slice(0, pos.line - 1).reduce((n, l) => n + l.length + 1, 0) + pos.column - 1;
}

/** Saves the active editor and returns the file's text once the save has reached the disk. */
export async function saveAndRead(page: Page, file: string): Promise<string> {
  const dirty = page.locator('.tab.active.dirty');
  // The tab's dirty mark follows an edit asynchronously: wait for it, or a save could be checked too early.
  await dirty.waitFor({ state: 'attached', timeout: 5_000 });
  await page.keyboard.press('Control+S');
  await dirty.waitFor({ state: 'detached' });
  return readFileSync(file, 'utf8');
}

/**
 * Types `text` at the end of the open file, waits for ghost text, presses Tab, and checks that
 * the file then holds exactly the ghost text at the cursor.
 */
export async function typeAndAccept(page: Page, file: string, text: string): Promise<string> {
  await page.keyboard.press('Control+End');
  await page.keyboard.type(text, { delay: 25 });
  const before = await saveAndRead(page, file);
  const ghost = await stableGhostText(page);
  const cursor = offsetOf(before, await cursorPosition(page));
  // A suggestion that starts with less indentation than a tab, at the line's indentation, makes VS
  // Code's first Tab indent instead (its inlineSuggestionHasIndentationLessThanTabSize rule); the
  // rest of the suggestion stays on screen and the next Tab accepts it. Any other change ends it.
  let shown = ghost;
  for (let presses = 0; presses < 4; presses++) {
    await page.keyboard.press('Tab');
    await page.waitForTimeout(300);
    const now = await ghostText(page);
    const typed = shown.slice(0, shown.length - now.length);
    if (now.trim() === '' || now.length >= shown.length || !shown.endsWith(now) || typed.trim() !== '') break;
    shown = now;
  }
  await page.keyboard.press('Escape'); // the next (prefetched) suggestion may show at once
  const after = await saveAndRead(page, file);
  assert.equal(after, before.slice(0, cursor) + ghost + before.slice(cursor), `Tab inserted exactly the ghost text ${JSON.stringify(ghost)}`);
  return ghost;
}

/** Hasten's LogOutputChannel file under code-server's user-data logs ('' until it exists). */
export function hastenLog(userDataDir: string): string {
  const logs = join(userDataDir, 'logs');
  if (!existsSync(logs)) return '';
  const file = readdirSync(logs, { recursive: true, encoding: 'utf8' }).find((f) => f.endsWith(join('hasten-dev.hasten', 'Hasten.log')));
  return file ? readFileSync(join(logs, file), 'utf8') : '';
}

/** Waits until the log has a line after `from` (a character offset) matching `re`; returns the match. */
export async function waitForLog(userDataDir: string, re: RegExp, from = 0, timeoutMs = 60_000): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = re.exec(hastenLog(userDataDir).slice(from));
    if (m) return m;
    if (Date.now() > deadline) throw new Error(`the Hasten log has no line matching ${re} within ${timeoutMs} ms:\n${hastenLog(userDataDir).slice(from).slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * Opens the command palette and types `text` into it. F1 pressed while the last quick pick is still closing
 * can land on the closing widget (seen in CI: the input was found visible, then hidden for the whole fill
 * timeout, once after a quick pick and once with the focus in the visualiser's webview): open it again then.
 */
export async function openPalette(page: Page, text: string): Promise<void> {
  const input = page.locator('.quick-input-widget input');
  for (let attempt = 1; ; attempt++) {
    // The palette's other binding on a retry, in case F1 is what went astray.
    await page.keyboard.press(attempt === 2 ? 'Control+Shift+P' : 'F1');
    try {
      await input.waitFor({ state: 'visible', timeout: 10_000 });
      await input.fill(text, { timeout: 10_000 });
      return;
    } catch (err) {
      if (attempt === 3) throw err;
      await page.keyboard.press('Escape');
      await page.waitForTimeout(500);
    }
  }
}

/** Runs a palette command by its label and waits for its quick pick (if any) to open. */
export async function runCommand(page: Page, label: string): Promise<void> {
  await openPalette(page, `>${label}`);
  await page.locator('.quick-input-list .monaco-list-row', { hasText: label }).first().waitFor();
  await page.keyboard.press('Enter');
}

/** Picks the row of the open quick pick whose label contains `label`. */
export async function pick(page: Page, label: string): Promise<void> {
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible' });
  await input.fill(label);
  await page.locator('.quick-input-list .monaco-list-row', { hasText: label }).first().waitFor();
  await page.keyboard.press('Enter');
}
