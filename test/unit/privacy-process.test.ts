// The engine process makes no network access either: with every Node networking entry point trapped
// inside it (a preload through NODE_OPTIONS), it loads the bundled models, completes with every
// strategy, indexes a document for retrieval and shuts down, and the trap records nothing. It runs the
// production bundle of the engine's entry, as the .vsix ships it (tsx, which runs the sources in other
// tests, opens a local pipe of its own).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ProcessEngine } from '../../src/completion/processEngine';
import * as esbuild from 'esbuild';
import { STRATEGY_IDS } from '../../src/engine';

const ROOT = path.join(__dirname, '..', '..');
const TRAP = path.join(__dirname, 'helpers', 'netTrap.cjs');

/** Builds the engine process's production bundle where it resolves onnxruntime-node as dist/ does. */
async function bundle(): Promise<string> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { buildOptions } = require('../../esbuild.js') as { buildOptions: (o: { production: boolean }) => { engineProcess: esbuild.BuildOptions } };
  const outfile = path.join(ROOT, 'node_modules', '.cache', 'hasten-privacy', 'engineProcess.js');
  await esbuild.build({ ...buildOptions({ production: true }).engineProcess, absWorkingDir: ROOT, outfile, logLevel: 'silent' });
  return outfile;
}

test('the engine process, trapped inside, loads, completes with every strategy and indexes without network access', { timeout: 180_000 }, async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hasten-net-trap-'));
  const trapLog = path.join(tmp, 'trap.log');
  const saved = { NODE_OPTIONS: process.env.NODE_OPTIONS, HASTEN_NET_TRAP_LOG: process.env.HASTEN_NET_TRAP_LOG };
  // The engine process inherits this process's environment.
  process.env.NODE_OPTIONS = `${saved.NODE_OPTIONS ?? ''} --require ${TRAP}`.trim();
  process.env.HASTEN_NET_TRAP_LOG = trapLog;
  let engine: ProcessEngine | undefined;
  const entry = await bundle();
  try {
    engine = await ProcessEngine.load({ modelDir: path.join(ROOT, 'models', 'hasten-target') }, entry);
    const file = fs.readFileSync(path.join(ROOT, 'test', 'fixtures', 'workspace', 'src', 'fibonacci.ts'), 'utf8');
    await engine.retrieval.update('file:///fibonacci.ts', file);
    const decoded: string[] = [];
    for (const strategy of STRATEGY_IDS) {
      let last;
      for await (const u of engine.complete({ prefix: file.slice(0, 120), suffix: file.slice(120, 200), strategy, maxNewTokens: 8 })) last = u;
      decoded.push(last!.trace.strategy);
    }
    assert.equal(decoded.length, STRATEGY_IDS.length);
    const pid = engine.pid;
    await engine.dispose();
    engine = undefined;
    const lines = fs.readFileSync(trapLog, 'utf8').trim().split('\n');
    assert.ok(lines.includes(`armed ${pid}`), `the trap was armed in the engine process (${lines.join('; ')})`);
    assert.deepEqual(lines.filter((l) => l.startsWith('attempt')), []);
  } finally {
    await engine?.dispose();
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('the trap catches a network call (it would have recorded one)', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hasten-net-trap-'));
  const log = path.join(tmp, 'trap.log');
  try {
    const { execFileSync } = require('node:child_process') as typeof import('node:child_process');
    const out = execFileSync(process.execPath, ['--require', TRAP, '-e', "try { require('node:http').get('http://127.0.0.1:9/') } catch (e) { console.log(e.message) }"], { env: { ...process.env, HASTEN_NET_TRAP_LOG: log }, encoding: 'utf8' });
    assert.match(out, /network access attempted: node:http\.get/);
    assert.match(fs.readFileSync(log, 'utf8'), /^attempt node:http\.get\(http:\/\/127\.0\.0\.1:9\/\)$/m);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
