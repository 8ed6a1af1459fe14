// Fuzzing the model loader: 1,000 mutated model folders (deterministic seeds; a quarter each of
// config.json, tokenizer files, ONNX bytes and manifest), each loaded through the real Engine.load in
// a loader process. Each case must end in a HastenError naming the broken file, or in a model that
// completes; never an unclear error, a hang over 10 s, an unhandled rejection or a leaked session. A
// case that crashes the loader process counts as survived only if a new engine process then serves
// a completion (the restart path); the extension's own process is never at risk (it is this one).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ProcessEngine } from '../../src/completion/processEngine';
import type { FuzzReply } from './helpers/fuzzLoader';
import { Loader } from './helpers/loaderClient';
import { BASE, makeMutant, type Mutant } from './helpers/modelMutants';

const CASES = Number(process.env.HASTEN_FUZZ_CASES ?? 1000);
const ROOT = path.join(__dirname, '..', '..');
const ENTRY = path.join(ROOT, 'src', 'completion', 'engineProcess.ts');

type Outcome = 'working model' | 'clear error' | 'unclear error' | 'completion failed' | 'hang' | 'unhandled rejection' | 'leaked session' | 'crash, restart served' | 'crash, restart failed';

/** The restart path after a crash: a fresh engine process on a good model serves a completion. */
async function restartServes(): Promise<boolean> {
  const e = await ProcessEngine.load({ modelDir: BASE, draftDir: null, cmlmDir: null }, ENTRY);
  try {
    let tokens = 0;
    for await (const u of e.complete({ prefix: 'def f(x):\n', suffix: '', strategy: 'autoregressive', maxNewTokens: 4 })) tokens = u.trace.tokens;
    return tokens > 0;
  } finally {
    await e.dispose();
  }
}

function classify(m: Mutant, r: FuzzReply): Outcome {
  if (r.unhandled.length > 0) return 'unhandled rejection';
  if (r.leakedSessions !== 0) return 'leaked session';
  if (r.outcome === 'loaded') return 'working model';
  if (r.outcome === 'complete-failed') return 'completion failed';
  const e = r.error!;
  return e.name === 'HastenError' && m.names.some((n) => e.message.includes(n)) ? 'clear error' : 'unclear error';
}

test(`${CASES} mutated model folders through the real loader: a clear error naming the file or a working model, nothing else`, { timeout: 15 * 60_000 }, async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hasten-fuzz-models-'));
  const loader = new Loader();
  const counts: Record<string, number> = {};
  const byTarget: Record<string, Record<string, number>> = {};
  const bad: string[] = [];
  const t0 = Date.now();
  try {
    for (let seed = 1; seed <= CASES; seed++) {
      const root = path.join(tmp, String(seed));
      const m = makeMutant(seed, root);
      const r = await loader.load(path.join(root, 'hasten-draft-s'));
      let outcome: Outcome;
      if (r === 'hang') outcome = 'hang';
      else if ('exit' in r) outcome = (await restartServes()) ? 'crash, restart served' : 'crash, restart failed';
      else outcome = classify(m, r);
      counts[outcome] = (counts[outcome] ?? 0) + 1;
      (byTarget[m.target] ??= {})[outcome] = (byTarget[m.target]![outcome] ?? 0) + 1;
      const ok = outcome === 'working model' || outcome === 'clear error' || outcome === 'crash, restart served';
      if (!ok) bad.push(`seed ${seed} (${m.target}: ${m.what}): ${outcome}${r !== 'hang' && !('exit' in r) && r.error ? ` — ${r.error.name}: ${r.error.message.slice(0, 300)}` : ''}${r !== 'hang' && !('exit' in r) && r.unhandled.length ? ` — ${r.unhandled.join('; ')}` : ''}`);
      fs.rmSync(root, { recursive: true, force: true });
    }
  } finally {
    loader.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  console.log(`# model fuzz: ${CASES} cases in ${((Date.now() - t0) / 1000).toFixed(0)} s: ${JSON.stringify(counts)}`);
  for (const [t, c] of Object.entries(byTarget)) console.log(`#   ${t}: ${JSON.stringify(c)}`);
  assert.deepEqual(bad, [], `${bad.length} cases ended badly`);
});
