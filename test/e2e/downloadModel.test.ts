// Issue 14, a real model from the hub, in real VS Code (code-server): hasten.hub.endpoint points at the
// loopback fake hub (test/unit/helpers/fakeHub.ts), which serves the bundled target's checkpoint under
// the Qwen2.5-Coder 0.5B preset's repo id (a small stand-in: ghost text from random weights could be
// nothing but special tokens). "Hasten: Download Model…" → the preset → the download's progress
// notification (a throttled CDN keeps it on screen), then the int4 build, then the model is selected:
// its name in the status bar's hover, ghost text from it in the editor. A screenshot of the ghost text
// and the hover is left in test-results/download-model.png, and one of the notification in
// download-model-progress.png, for a person to look at.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import { bundledCheckpointRepos, startFakeHub, type FakeHub } from '../unit/helpers/fakeHub';
import { hastenLog, openFile, pick, runCommand, stableGhostText, waitForLog, waitForReady } from './editor';
import { RESULTS_DIR, statusItemId, waitForActivation, withVSCode } from './harness';

const E2E_TIMEOUT_MS = 20 * 60_000;
const REPO = 'Qwen/Qwen2.5-Coder-0.5B';
const PRESET = 'Qwen2.5-Coder 0.5B base';
/** The CDN's rate for the weights: about 4 s for the stand-in's 14.7 MB, so the notification is seen updating. */
const BYTES_PER_SECOND = 4_000_000;
/** "model.safetensors: 3.2 / 15.0 MB · 4.0 MB/s · 3 s left" (one total over the tokenizer and the weights). */
const PROGRESS = /model\.safetensors: \d+\.\d \/ \d+\.\d MB · \d+\.\d MB\/s · \d+ s left/;

test('Download Model: a preset from the hub endpoint setting, with a progress notification, becomes the model: its name in the status bar, ghost text from it', { timeout: E2E_TIMEOUT_MS }, async (t) => {
  const [target] = bundledCheckpointRepos(['hasten-target']);
  const hub = await startFakeHub([{ ...target!, id: REPO }], { lifetimeMs: E2E_TIMEOUT_MS });
  hub.fault(REPO, 'model.safetensors', { bytesPerSecond: BYTES_PER_SECOND });
  const home = mkdtempSync(join(tmpdir(), 'hasten-e2e-hf-'));
  const cache = join(home, 'hub');
  try {
    const env = { HF_HOME: home, HF_HUB_CACHE: cache, HF_ENDPOINT: 'http://127.0.0.1:9', HF_TOKEN: '' };
    await withVSCode(t.name, { settings: { 'files.autoSave': 'off', 'hasten.hub.endpoint': hub.url }, env }, async ({ page, userDataDir }) => {
      mkdirSync(RESULTS_DIR, { recursive: true });
      try {
        await steps(hub, cache, page, userDataDir);
      } catch (err) {
        throw new Error(`${err instanceof Error ? err.message : String(err)}\nHasten log:\n${hastenLog(userDataDir).slice(-4000)}`, { cause: err });
      }
    });
  } finally {
    await hub.close();
    rmSync(home, { recursive: true, force: true });
  }
});

/** The user's steps, from the palette to ghost text from the downloaded model. */
async function steps(hub: FakeHub, cache: string, page: Page, userDataDir: string): Promise<void> {
  await waitForActivation(page);
  await waitForReady(page);
  const from = hastenLog(userDataDir).length;
  await runCommand(page, 'Hasten: Download Model…');
  await pick(page, PRESET);

  // The notification names the repo and counts MB with a rate while the weights arrive.
  const toast = page.locator('.notifications-toasts .notification-toast', { hasText: `downloading ${REPO}` });
  await toast.waitFor({ timeout: 30_000 });
  const seen = new Set<string>();
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline && ![...seen].some((m) => PROGRESS.test(m))) {
    const text = await toast.first().innerText({ timeout: 1_000 }).catch(() => '');
    if (PROGRESS.test(text.replace(/\s+/g, ' '))) await page.screenshot({ path: join(RESULTS_DIR, 'download-model-progress.png') });
    if (text) seen.add(text.replace(/\s+/g, ' '));
    await page.waitForTimeout(100);
  }
  assert.ok([...seen].some((m) => PROGRESS.test(m)), `a progress message among ${JSON.stringify([...seen])}`);

  // Downloaded from the setting's endpoint (not HF_ENDPOINT), into the shared cache layout, then built at int4 and selected.
  await waitForLog(userDataDir, new RegExp(`Downloading ${REPO} from ${hub.url.replace(/[.]/g, '\\.')}`), from, 30_000);
  await waitForLog(userDataDir, /Built Qwen\/Qwen2\.5-Coder-0\.5B at int4: /, from, 240_000);
  const loaded = await waitForLog(userDataDir, /Loaded (Qwen--Qwen2\.5-Coder-0\.5B-int4-[0-9a-f]{16}) \(cpu, fast graph/, from, 120_000);
  assert.equal(readFileSync(join(cache, 'models--Qwen--Qwen2.5-Coder-0.5B', 'refs', 'main'), 'utf8'), hub.commitOf(REPO));
  assert.ok(existsSync(join(cache, 'models--Qwen--Qwen2.5-Coder-0.5B', 'blobs', hub.sha256(REPO, 'model.safetensors'))), 'the weights are a blob named by their sha256');
  assert.ok(hub.requests.some((r) => r.server === 'cdn' && r.bytes > 0), 'the weights came from the CDN the hub redirected to');
  await waitForReady(page);

  // Ghost text from the downloaded model (the log line of the completion names it), and its name in the status bar.
  await openFile(page, 'stats.py');
  const before = hastenLog(userDataDir).length;
  await page.keyboard.press('Control+End');
  await page.keyboard.type('\n\ndef median(values):\n', { delay: 25 });
  const ghost = await stableGhostText(page);
  assert.ok(ghost.trim().length > 0);
  await waitForLog(userDataDir, new RegExp(`\\[info\\] completion #\\d+ strategy=\\S+ model=${loaded[1]} `), before, 60_000);
  await page.locator(`[id="${statusItemId()}"]`).hover();
  const hover = page.locator('.monaco-hover', { hasText: loaded[1]! }).first();
  await hover.waitFor({ timeout: 15_000 });
  // Model, provider (with why, when the provider was chosen automatically) and context.
  assert.match(await hover.innerText(), new RegExp(`Hasten: ${loaded[1]} on cpu\\b.*, context [\\d,]+ tokens`, 's'));
  await page.screenshot({ path: join(RESULTS_DIR, 'download-model.png') });
}
