// Runs inside VS Code's extension host. A small sequential runner keeps this suite free of a test framework.
import assert from 'node:assert/strict';
import * as vscode from 'vscode';

const EXTENSION_ID = 'hasten-dev.hasten';

const cases: Record<string, () => Promise<void>> = {
  async 'the extension activates'() {
    const extension = vscode.extensions.getExtension(EXTENSION_ID);
    assert.ok(extension, `${EXTENSION_ID} is not installed`);
    await extension.activate();
    assert.equal(extension.isActive, true);
  },
  async 'every contributed command is registered'() {
    const extension = vscode.extensions.getExtension(EXTENSION_ID);
    const contributed = (extension?.packageJSON as { contributes: { commands: { command: string }[] } }).contributes.commands;
    const registered = new Set(await vscode.commands.getCommands(true));
    for (const { command } of contributed) assert.ok(registered.has(command), `${command} is not registered`);
  },
  async 'Hasten: Show Log runs'() {
    await vscode.commands.executeCommand('hasten.showLog');
  },
};

/** Entry point @vscode/test-electron calls; rejects if any case fails. */
export async function run(): Promise<void> {
  const failed: string[] = [];
  for (const [name, body] of Object.entries(cases)) {
    try {
      await body();
      console.log(`✔ ${name}`);
    } catch (err) {
      failed.push(name);
      console.error(`✖ ${name}\n`, err);
    }
  }
  console.log(`tests ${Object.keys(cases).length}, pass ${Object.keys(cases).length - failed.length}, fail ${failed.length}`);
  if (failed.length > 0) throw new Error(`${failed.length} test(s) failed: ${failed.join(', ')}`);
}
