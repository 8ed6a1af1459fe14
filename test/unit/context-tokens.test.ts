// hasten.contextTokens: the context a model runs at (prompt + completion), chosen by provider when
// unset, never beyond what the model allows, and the prompt budget that follows from it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeRandomCheckpoint } from '../../bench/checkpoints';
import { build } from '../../src/build/builder';
import { readConfig } from '../../src/config';
import { Engine, HastenError } from '../../src/engine';
import { CausalModel } from '../../src/engine/model/causal';
import { openModelFolder } from '../../src/engine/model/folder';
import { COLD_PREFILL_MS, CPU_PREFILL_MS_PER_TOKEN, cpuPrefillMsPerToken } from '../../src/engine/model/context';
import { autoContext, contextFor, DEFAULT_RUNTIME } from '../../src/engine/model/session';
import { cutBlock } from '../../src/engine/prompt';

const ROOT = path.resolve(__dirname, '..', '..');
const TOKENIZER = path.join(ROOT, 'models', 'hasten-target');

let tmp: string;
let dir: string;
before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hasten-ctx-'));
  const ck = writeRandomCheckpoint(path.join(tmp, 'ck'), { family: 'llama', hidden: 32, layers: 1, heads: 2, kvHeads: 1, headDim: 16, intermediate: 64, vocab: 8192, tied: true, maxPositions: 4096 },
    { seed: 5, tokenizerDir: TOKENIZER });
  dir = (await build({ from: ck, out: path.join(tmp, 'm'), variants: ['standard'] })).out;
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('the context', () => {
  test('unset: on a CPU the largest power of two whose prompt a 0.5B model prefills in 4 s at the measured cost (2,048 at 2 threads), 8,192 on an accelerator, never beyond the model', () => {
    // At the measured ms per token, each context's prompt fits the budget and the next power of two's would not.
    for (const threads of [1, 2, 3, 4, 8, 16]) {
      const c = autoContext('cpu', 32768, threads);
      const ms = cpuPrefillMsPerToken(threads);
      assert.ok(c >= 1024 && c <= 8192 && (c === 1024 || c * ms <= COLD_PREFILL_MS) && (c === 8192 || 2 * c * ms > COLD_PREFILL_MS), `${threads} threads: ${c}`);
    }
    assert.equal(cpuPrefillMsPerToken(1), CPU_PREFILL_MS_PER_TOKEN[1]);
    assert.equal(cpuPrefillMsPerToken(2), CPU_PREFILL_MS_PER_TOKEN[2]);
    assert.equal(autoContext('cpu', 32768, 2), 2048);
    assert.equal(autoContext('cpu', 32768, 1), 1024);
    assert.equal(autoContext('cpu', 32768, 16), 8192);
    assert.equal(autoContext('cuda', 32768), 8192);
    assert.equal(autoContext('cpu', 256, 2), 256);
    assert.equal(contextFor({ provider: 'cpu', contextTokens: 0, threads: 2 }, 32768), 2048);
    // Threads unset: as many as the machine has.
    assert.equal(contextFor({ provider: 'cpu', contextTokens: 0 }, 32768), autoContext('cpu', 32768, os.availableParallelism()));
  });

  test('set: used as given up to the model\'s own context', () => {
    assert.equal(contextFor({ provider: 'cpu', contextTokens: 8192 }, 32768), 8192);
    assert.equal(contextFor({ provider: 'cpu', contextTokens: 20000 }, 4096), 4096);
  });

  test('the setting reads as an integer from 0 to 32,768 and reports anything else', () => {
    const problems: string[] = [];
    const read = (v: unknown) => readConfig({ get: <T>(k: string, d: T) => (k === 'contextTokens' ? (v as T) : d) }, (p) => problems.push(p)).engine.contextTokens;
    assert.equal(read(4096), 4096);
    assert.equal(read(0), 0);
    assert.equal(read(100000), 32768);
    assert.equal(read('big'), 0);
    assert.equal(problems.length, 2);
    assert.ok(problems.every((p) => p.startsWith('hasten.contextTokens:')));
  });

  test('a model opens at the chosen context, and a sequence beyond it is refused', async () => {
    const folder = openModelFolder(dir);
    assert.equal(folder.config.contextLength, 4096);
    const runtime = { ...DEFAULT_RUNTIME, threads: 2 };
    const auto = await CausalModel.open(folder, runtime);
    assert.equal(auto.contextLength, 2048);
    await auto.dispose();
    const big = await CausalModel.open(folder, { ...runtime, contextTokens: 30000 });
    assert.equal(big.contextLength, 4096);
    await big.dispose();
    const m = await CausalModel.open(folder, { ...runtime, contextTokens: 16 });
    try {
      assert.equal(m.contextLength, 16);
      await m.forward(Array.from({ length: 16 }, (_, i) => 10 + i), null);
      m.commit(Array.from({ length: 16 }, (_, i) => i));
      await assert.rejects(m.forward([5], null), (err: HastenError) => err.code === 'context-overflow' && /beyond the model's context of 16/.test(err.message));
    } finally {
      await m.dispose();
    }
  });

  test('the prompt budget: context minus the completion, the suffix a quarter of the room at most', async () => {
    const engine = await Engine.load({ modelDir: dir, draftDir: null, runtime: { threads: 1, contextTokens: 64 } });
    try {
      assert.equal(engine.target.contextLength, 64);
      const line = 'def f(x):\n    return x + 1\n';
      const maxNewTokens = 8;
      const ids = engine.prompt(line.repeat(200), line.repeat(200), maxNewTokens);
      // A prefix too long is cut in blocks of an eighth of the room (so typing keeps the prompt's start).
      const budget = 64 - maxNewTokens - 1;
      assert.ok(ids.length <= budget && ids.length > budget - cutBlock(budget - 3), `${ids.length} tokens`);
      const fim = engine.target.folder.tokenizer.fim!;
      const suffixTokens = ids.indexOf(fim.middleId) - ids.indexOf(fim.suffixId) - 1;
      assert.equal(suffixTokens, Math.floor((budget - 3) * 0.25));
      let trace;
      for await (const u of engine.complete({ prefix: line.repeat(200), suffix: '', strategy: 'autoregressive', maxNewTokens })) trace = u.trace;
      assert.ok(trace && trace.promptTokens <= 64 - maxNewTokens - 1 && trace.promptTokens + trace.tokens <= 64);
    } finally {
      await engine.dispose();
    }
  });
});
