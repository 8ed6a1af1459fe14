// The engine process dying in real VS Code (code-server): killed with SIGKILL while idle and 60 ms
// after typing (usually mid-decode; test/unit/engineRestart.test.ts makes sure of it), it is restarted, the log says how it ended, no completion fails loudly,
// and the next suggestion comes from the new process; a third end within a minute is a crash loop,
// which stops restarts and tells the user what to do (status bar error, notification).
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { statusItemId, waitForActivation, withVSCode } from './harness';
import { hastenLog, openFile, typeAndAccept, waitForLog, waitForReady } from './editor';

const E2E_TIMEOUT_MS = 10 * 60_000;

/** The pid of the engine process started from this code-server's extensions folder (other runs may have their own). */
function enginePid(userDataDir: string): number | undefined {
  const extensions = join(dirname(userDataDir), 'extensions');
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    let cmd = '';
    try {
      cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (cmd.includes(extensions) && cmd.includes('engineProcess.js')) return Number(p);
  }
  return undefined;
}

async function newEnginePid(userDataDir: string, not: number | undefined, timeoutMs = 60_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pid = enginePid(userDataDir);
    if (pid !== undefined && pid !== not) return pid;
    if (Date.now() > deadline) throw new Error(`no new engine process within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('the engine process killed in VS Code: restarted, reported, the next suggestion served; a crash loop stops restarts', { timeout: E2E_TIMEOUT_MS }, async (t) => {
  await withVSCode(t.name, { settings: { 'files.autoSave': 'off' } }, async (vscode) => {
    const { page, userDataDir, workspace } = vscode;
    const file = join(workspace, 'src', 'fibonacci.ts');
    await waitForActivation(page);
    await waitForReady(page);
    await openFile(page, 'fibonacci.ts');
    const first = await newEnginePid(userDataDir, undefined);

    // Killed while idle.
    let from = hastenLog(userDataDir).length;
    process.kill(first, 'SIGKILL');
    await waitForLog(userDataDir, /\[warning\] The engine process was killed by SIGKILL\. Restarting it in 250 ms \(end 1 of 3/, from);
    const second = await newEnginePid(userDataDir, first);
    await waitForReady(page);
    assert.ok((await typeAndAccept(page, file, '\nexport function sum(values: readonly number[]): number {\n')).trim().length > 0, 'a suggestion from the new process');
    await waitForLog(userDataDir, /\[info\] completion #\d+ /, from);

    // Killed 60 ms after typing, while a completion is usually in flight: nothing fails loudly.
    from = hastenLog(userDataDir).length;
    await page.keyboard.press('Control+End');
    await page.keyboard.type('\nexport function mean(values: readonly number[]): number {\n', { delay: 25 });
    await page.waitForTimeout(60);
    process.kill(second, 'SIGKILL');
    await waitForLog(userDataDir, /killed by SIGKILL\. Restarting it in 1000 ms \(end 2 of 3/, from);
    const third = await newEnginePid(userDataDir, second);
    await waitForReady(page);
    await page.keyboard.type('  ', { delay: 25 });
    await waitForLog(userDataDir, /\[info\] completion #\d+ /, from);
    assert.doesNotMatch(hastenLog(userDataDir).slice(from), /\[error\]/, 'no completion failed loudly');

    // A third end within the minute: restarts stop, the status bar shows an error and a notification says what to do.
    from = hastenLog(userDataDir).length;
    process.kill(third, 'SIGKILL');
    await waitForLog(userDataDir, /\[error\] The engine process was killed by SIGKILL\. It ended 3 times within 60 s, so Hasten stopped restarting it/, from);
    await page.locator(`[id="${statusItemId()}"]`).locator('.codicon-error').waitFor({ timeout: 30_000 });
    await page.locator('.notifications-toasts').getByText(/stopped restarting it/).first().waitFor({ timeout: 30_000 });
    await page.waitForTimeout(5000);
    assert.equal(enginePid(userDataDir), undefined, 'no engine process was started again');
  });
});
