import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { paletteCommands, statusItemId, waitForActivation, withVSCode } from './harness';

// Generous: a first run may install code-server (minutes) before VS Code starts.
const E2E_TIMEOUT_MS = 20 * 60_000;

const manifest = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as {
  contributes: { commands: { title: string; category: string }[] };
};
const contributedLabels = manifest.contributes.commands.map((c) => `${c.category}: ${c.title}`).sort();

test('Hasten activates in real VS Code, lists its commands in the palette, and Show Log shows the log', { timeout: E2E_TIMEOUT_MS }, async (t) => {
  await withVSCode(t.name, {}, async ({ page }) => {
    await waitForActivation(page);
    await page.locator(`[id="${statusItemId()}"] .codicon-zap`).waitFor({ state: 'visible' });

    const listed = await paletteCommands(page, 'Hasten:');
    assert.deepEqual(listed.filter((l) => l.startsWith('Hasten:')).sort(), contributedLabels);

    await paletteCommands(page, 'Hasten: Show Log');
    await page.keyboard.press('Enter');
    // \s, not a space: the editor renders spaces as U+00A0.
    await page.locator('.part.panel .view-lines', { hasText: /Hasten\s\d+\.\d+\.\d+\sactivated/ }).waitFor({ state: 'visible' });
  });
});

test('with hasten.enable false the status bar shows completions are off', { timeout: E2E_TIMEOUT_MS }, async (t) => {
  await withVSCode(t.name, { settings: { 'hasten.enable': false } }, async ({ page }) => {
    await waitForActivation(page);
    await page.locator(`[id="${statusItemId()}"] .codicon-circle-slash`).waitFor({ state: 'visible' });
  });
});
