// npm run test:vscode: runs suite/ inside a desktop VS Code that @vscode/test-electron downloads.
// Needs internet (update.code.visualstudio.com); `npm test` runs the code-server end-to-end tests instead.
import { join, resolve } from 'node:path';
import { runTests } from '@vscode/test-electron';

const ROOT = resolve(__dirname, '..', '..', '..');

runTests({
  version: '1.100.3',
  extensionDevelopmentPath: ROOT,
  extensionTestsPath: join(__dirname, 'suite', 'index.js'),
  launchArgs: [join(ROOT, 'test', 'fixtures', 'workspace'), '--disable-extensions', '--disable-workspace-trust'],
}).catch((err: unknown) => {
  console.error(`test:vscode failed: ${err instanceof Error ? err.message : String(err)}`);
  console.error('It downloads VS Code 1.100.3, so it needs internet; without it, run `npm test`.');
  process.exit(1);
});
