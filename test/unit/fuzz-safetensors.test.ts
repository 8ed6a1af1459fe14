// Fuzzing the builder's input: 150 mutated safetensors checkpoints (deterministic seeds: truncated,
// bits flipped in the header or the weights, header lengths and tensor entries that lie about sizes,
// dtypes, shapes and offsets, a config.json describing other weights) through the real builder
// (safetensors in, ONNX out) in its own process, as Download Model runs it (forkBuild). Each case must end in a HastenError naming the
// file, or in a model that the engine then loads and completes with in a loader process; never another
// error, a hang over 10 s, an unhandled rejection or a leaked session.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { forkBuild } from '../../src/engine/hub';
import { HANG_MS, Loader } from './helpers/loaderClient';
import { makeCheckpointMutant } from './helpers/safetensorsMutants';

const CASES = Number(process.env.HASTEN_FUZZ_CHECKPOINTS ?? 150);
const runBuild = forkBuild(path.join(__dirname, '..', '..', 'src', 'engine', 'hub', 'buildProcess.ts'));

/** Builds `from` into `out` in a build process: null when built, the error, or 'hang' (the process is then stopped). */
async function buildWithin(from: string, out: string): Promise<Error | null | 'hang'> {
  const ctrl = new AbortController();
  let hung = false;
  const timer = setTimeout(() => {
    hung = true;
    ctrl.abort();
  }, HANG_MS);
  const result = await runBuild({ from, out, signal: ctrl.signal }).then(() => null, (err: unknown) => err as Error);
  clearTimeout(timer);
  return hung ? 'hang' : result;
}

test(`${CASES} mutated safetensors checkpoints through the builder: a clear error naming the file, or a model that loads and completes`, { timeout: 10 * 60_000 }, async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hasten-fuzz-checkpoints-'));
  const loader = new Loader();
  const counts: Record<string, number> = {};
  const bad: string[] = [];
  const unhandled: unknown[] = [];
  const onUnhandled = (r: unknown) => unhandled.push(r);
  process.on('unhandledRejection', onUnhandled);
  const t0 = Date.now();
  try {
    for (let seed = 1; seed <= CASES; seed++) {
      const root = path.join(tmp, String(seed));
      const m = makeCheckpointMutant(seed, root);
      const out = path.join(root, 'built');
      let outcome: string;
      let detail = '';
      const built = await buildWithin(path.join(root, 'hasten-draft-s'), out);
      if (built === 'hang') outcome = 'hang (build)';
      else if (built !== null) {
        const clear = built.name !== undefined && /Error$/.test(built.name) && 'fix' in built && m.names.some((n) => built.message.includes(n));
        outcome = clear ? 'clear error' : 'unclear error';
        detail = `${built.name}: ${built.message.slice(0, 300)}`;
      } else {
        const r = await loader.load(out);
        if (r === 'hang') outcome = 'hang (load)';
        else if ('exit' in r) outcome = `engine crash (${r.exit})`;
        else if (r.unhandled.length > 0 || r.leakedSessions !== 0) outcome = 'unhandled rejection or leaked session';
        else if (r.outcome === 'loaded') outcome = 'built, loads and completes';
        else {
          outcome = r.error?.name === 'HastenError' ? 'built, engine refuses it clearly' : 'built, engine fails unclearly';
          detail = `${r.error?.name}: ${r.error?.message.slice(0, 300)}`;
        }
      }
      counts[outcome] = (counts[outcome] ?? 0) + 1;
      if (!['clear error', 'built, loads and completes', 'built, engine refuses it clearly'].includes(outcome)) bad.push(`seed ${seed} (${m.what}): ${outcome} ${detail}`);
      fs.rmSync(root, { recursive: true, force: true });
    }
  } finally {
    process.off('unhandledRejection', onUnhandled);
    loader.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  console.log(`# checkpoint fuzz: ${CASES} cases in ${((Date.now() - t0) / 1000).toFixed(0)} s: ${JSON.stringify(counts)}`);
  assert.deepEqual(unhandled, []);
  assert.deepEqual(bad, [], `${bad.length} cases ended badly`);
});

// Found by this fuzzer at seed 169 (outside the 150 above): the builder did not bound config.json's
// sizes, so num_hidden_layers = 1e9 ran for minutes towards a 4 GB heap before failing. It now
// bounds every size and checks the layer count against the checkpoint before emitting a graph.
test('a checkpoint whose config.json claims 1e9 layers is refused by the builder within 10 s', { timeout: 60_000 }, async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hasten-fuzz-layers-'));
  try {
    const m = makeCheckpointMutant(169, tmp);
    assert.equal(m.what, 'config.json num_hidden_layers = 1000000000');
    const built = await buildWithin(path.join(tmp, 'hasten-draft-s'), path.join(tmp, 'built'));
    assert.notEqual(built, 'hang', 'refused within 10 s');
    assert.match((built as Error).message, /config\.json/);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
