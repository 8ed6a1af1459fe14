// Runs the TypeScript tests with node's built-in test runner: `tsx test/run.ts [unit|e2e]`.
// Node 20 neither strips types nor expands globs after --test, so this lists the files and loads tsx.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { packageVsix } from '../scripts/package';

const ROOT = resolve(__dirname, '..');
const SUITES = { unit: 'test/unit', e2e: 'test/e2e' } as const;
type Suite = keyof typeof SUITES;

function testFiles(suite: Suite): string[] {
  return readdirSync(join(ROOT, SUITES[suite]), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.test.ts'))
    .map((e) => relative(ROOT, join(e.parentPath, e.name)))
    .sort();
}

async function main(): Promise<number> {
  const arg = process.argv[2];
  if (arg !== undefined && !(arg in SUITES)) {
    console.error(`usage: tsx test/run.ts [${Object.keys(SUITES).join('|')}]`);
    return 2;
  }
  const suites = arg ? [arg as Suite] : (Object.keys(SUITES) as Suite[]);
  const files = suites.flatMap(testFiles);
  const env = { ...process.env };
  if (suites.includes('e2e') && !env.HASTEN_VSIX) {
    // The end-to-end tests install exactly what `npm run package` ships.
    env.HASTEN_VSIX = (await packageVsix({ log: (line) => console.log(line) })).path;
  }
  const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', ...files], { cwd: ROOT, env, stdio: 'inherit' });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
  return new Promise((done) => child.on('exit', (code, signal) => done(code ?? (signal ? 1 : 0))));
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(1);
  },
);
