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
import { COLD_PREFILL_MS, CPU_PREFILL_MS_PER_TOKEN, cpuPrefillMs, cpuPrefillMsPerToken, MEASURED_SHAPE, MIN_CONTEXT, prefillShape } from '../../src/engine/model/context';
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
  test('unset: on a CPU the largest power of two whose prompt this model prefills in 4 s at the measured cost, 8,192 on an accelerator, never beyond the model', () => {
    const q15 = prefillShape({ num_hidden_layers: 28, hidden_size: 1536, num_attention_heads: 12, num_key_value_heads: 2, intermediate_size: 8960 })!;
    const tiny = prefillShape(JSON.parse(fs.readFileSync(path.join(TOKENIZER, 'config.json'), 'utf8')) as Record<string, unknown>)!;
    for (const shape of [MEASURED_SHAPE, q15, tiny]) {
      for (const threads of [1, 2, 3, 4, 8, 16]) {
        const c = autoContext('cpu', 32768, threads, shape);
        const ms = (n: number) => cpuPrefillMs(shape, n, threads);
        assert.ok(c >= MIN_CONTEXT && c <= 8192 && (c === MIN_CONTEXT || ms(c) <= COLD_PREFILL_MS) && (c === 8192 || ms(2 * c) > COLD_PREFILL_MS), `${shape.hidden}, ${threads} threads: ${c}`);
        // A larger model never gets a longer context.
        assert.ok(autoContext('cpu', 32768, threads, q15) <= autoContext('cpu', 32768, threads, MEASURED_SHAPE));
      }
    }
    // At the measured shape and 1,000 tokens the estimate is the measurement.
    assert.ok(Math.abs(cpuPrefillMs(MEASURED_SHAPE, 1000, 2) - 1000 * CPU_PREFILL_MS_PER_TOKEN[2]) < 1e-6);
    assert.ok(Math.abs(cpuPrefillMs(MEASURED_SHAPE, 1000, 1) - 1000 * CPU_PREFILL_MS_PER_TOKEN[1]) < 1e-6);
    // Attention by multiply-adds: a 0.5B token at 1,984 costs 5.5% more than one at 1,024.
    const growth = (cpuPrefillMs(MEASURED_SHAPE, 1984, 2) / 1984) / (cpuPrefillMs(MEASURED_SHAPE, 1024, 2) / 1024);
    assert.ok(Math.abs(growth - 1.054) < 0.005, `growth ${growth}`);
    // The presets at 2 threads: 0.5B 2,048 (as measured: a 2,048-token prompt in 3.9 s), 1.5B 512 (1,024 would take 6.5 s).
    assert.equal(autoContext('cpu', 32768, 2, MEASURED_SHAPE), 2048);
    assert.equal(autoContext('cpu', 32768, 2, q15), 512);
    // The 1.5B's weights are 3.6x the 0.5B's per token: its context is smaller at 2 threads; the bundled models' is their own.
    assert.ok(autoContext('cpu', 32768, 2, q15) < autoContext('cpu', 32768, 2, MEASURED_SHAPE));
    assert.equal(autoContext('cpu', 1024, 2, tiny), 1024);
    assert.equal(autoContext('cuda', 32768, 2, q15), 8192);
    assert.equal(autoContext('cpu', 256, 2), 256);
    // Without a shape (config.json lacks a field) the model is costed as the measured one.
    assert.equal(prefillShape({ hidden_size: 896 }), undefined);
    assert.equal(contextFor({ provider: 'cpu', contextTokens: 0, threads: 2 }, 32768, { hidden_size: 896 }), autoContext('cpu', 32768, 2, MEASURED_SHAPE));
    assert.equal(contextFor({ provider: 'cpu', contextTokens: 0, threads: 2 }, 32768, { num_hidden_layers: 28, hidden_size: 1536, num_attention_heads: 12, num_key_value_heads: 2, intermediate_size: 8960 }), autoContext('cpu', 32768, 2, q15));
    // head_dim absent: hidden / heads (Qwen2.5-Coder-1.5B's config has none).
    assert.equal(q15.headDim, 128);
    assert.equal(cpuPrefillMsPerToken(1), CPU_PREFILL_MS_PER_TOKEN[1]);
    assert.equal(cpuPrefillMsPerToken(2), CPU_PREFILL_MS_PER_TOKEN[2]);
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
    // A tiny model prefills 4,096 tokens in well under the budget: the model's own context.
    const auto = await CausalModel.open(folder, runtime);
    assert.equal(auto.contextLength, 4096);
    await auto.dispose();
    // The same graph whose config.json claims a huge MLP is costed as such: the smallest context.
    const heavy = path.join(tmp, 'heavy');
    fs.cpSync(dir, heavy, { recursive: true });
    const cfg = JSON.parse(fs.readFileSync(path.join(heavy, 'config.json'), 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(path.join(heavy, 'config.json'), JSON.stringify({ ...cfg, intermediate_size: 1e9 }));
    const slow = await CausalModel.open(openModelFolder(heavy), runtime);
    assert.equal(slow.contextLength, MIN_CONTEXT);
    await slow.dispose();
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
