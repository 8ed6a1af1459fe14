// One prompt path (issue 18): the same document and cursor give the same prompt and the same tokens
// in the editor (the provider's windows, the completion service's request) and in the CLI
// (`npm run hasten -- complete`, run here as a process on the same file).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { readConfig } from '../../src/config';
import { stringSource, windowsAt } from '../../src/completion/context';
import { TraceHistory } from '../../src/completion/history';
import { CompletionService, type CompletionEngine } from '../../src/completion/service';
import { Engine, type CompletionRequest, type CompletionTrace } from '../../src/engine';

const ROOT = path.resolve(__dirname, '..', '..');
const defaults = readConfig({ get: <T>(_k: string, d: T) => d });
const decode = { ...defaults.decode, strategy: 'autoregressive' as const };
const completion = { ...defaults.completion, debounceMs: 0, prefetch: false };

/** Documents with the cursor at `|`: after an auto-indent (TS, Python), mid-line, at column 0. */
const DOCS: [string, string][] = [
  ['calc.ts', 'export class Calculator {\n  private total = 0;\n\n  add(a: number, b: number): number {\n    return a + b;\n  }\n\n  |\n}\n'],
  ['stats.py', 'def mean(values):\n    """Arithmetic mean."""\n    total = sum(values)\n    |\n\n\ndef variance(values):\n    return 0\n'],
  ['sum.ts', 'export function sum(values: readonly number[]): number {\n  return values.reduce((total, v) => |);\n}\n'],
  ['fib.py', 'def fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n|'],
];

let engine: Engine;
let dir: string;
before(async () => {
  engine = await Engine.load({ modelDir: path.join(ROOT, 'models', 'hasten-target'), draftDir: null, cmlmDir: null, runtime: { threads: 1 } });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hasten-prompt-path-'));
});
after(async () => {
  await engine.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** The editor's path: the provider's windows around the cursor, through the completion service. */
async function editor(text: string, offset: number): Promise<{ req: CompletionRequest; trace: CompletionTrace; shown: string }> {
  let req: CompletionRequest | undefined;
  const spy: CompletionEngine = { complete: (r) => ((req = r), engine.complete(r)) };
  const history = new TraceHistory();
  const log = { trace() {}, debug() {}, info() {}, warn() {}, error: (m: string) => assert.fail(m) };
  const service = new CompletionService({ engine: () => spy, decode: () => decode, completion: () => completion, log, history });
  const recorded = new Promise<void>((resolve) => history.onDidRecordTrace(() => resolve()));
  const w = windowsAt(stringSource(text), offset, completion);
  await service.provide({ uri: 'file:///doc', languageId: 'typescript', version: 1, offset, ...w }, new AbortController().signal, () => true);
  await recorded;
  const r = history.last()!;
  return { req: req!, trace: r.trace, shown: r.shown };
}

/** The CLI's path: `hasten complete --json` on the file, at the same line and column. */
function cli(file: string, text: string, offset: number): { completion: string; trace: CompletionTrace } {
  const before = text.slice(0, offset).split('\n');
  const args = ['--import', 'tsx', path.join(ROOT, 'bench', 'cli.ts'), 'complete', '--file', file, '--line', String(before.length), '--column', String(before[before.length - 1]!.length + 1),
    '--strategy', 'autoregressive', '--draft', 'none', '--threads', '1', '--max-tokens', String(decode.maxTokens), '--json', '1'];
  const r = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { completion: string; trace: CompletionTrace };
}

test('the editor and the CLI build the same prompt ids and decode the same tokens for the same document and cursor', async () => {
  for (const [name, doc] of DOCS) {
    const offset = doc.indexOf('|');
    const text = doc.replace('|', '');
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    const ed = await editor(text, offset);
    // What the CLI hands the engine: the whole file around the cursor.
    const cliPrompt = engine.promptFor(text.slice(0, offset), text.slice(offset), decode.maxTokens, undefined, completion.cursorLine);
    assert.equal(ed.req.cursorLine, completion.cursorLine);
    const edPrompt = engine.promptFor(ed.req.prefix, ed.req.suffix, ed.req.maxNewTokens, undefined, ed.req.cursorLine);
    assert.deepEqual(edPrompt, cliPrompt, `${name}: prompt`);
    const c = cli(file, text, offset);
    assert.equal(c.trace.promptTokens, ed.trace.promptTokens, `${name}: prompt length`);
    // The editor stops where its multi-line policy says; up to there the tokens are the CLI's.
    assert.ok(ed.trace.output.length > 0, `${name}: the editor decoded nothing`);
    assert.deepEqual(ed.trace.output, c.trace.output.slice(0, ed.trace.output.length), `${name}: tokens`);
  }
});
