// What a greedy decoder copies back from the GPU, at Qwen2.5's vocabulary (151,936): a random-weight
// qwen2 of toy width with the real tokenizer, built by Hasten's builder (fast, tree and standard
// graphs with their `argmax` output), on onnxruntime's WebGPU provider against the CPU. Greedy
// verification reads each row's argmax (8 bytes), not the row (593.5 KB): the trace's byte counter
// stays under 64 KB a generated token, with the CPU's tokens. A token tree is verified in one pass
// (the tree graph rotates by position_ids itself). Device tensors stay constant over 200 completions.
// Lavapipe (software Vulkan) runs it here; without an adapter these tests skip, except under CI.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { webgpuSkip } from './helpers/webgpu';
import { writeRandomCheckpoint } from '../../bench/checkpoints';
import { build } from '../../src/build/builder';
import { CompletionTrace, Engine, GREEDY, Strategy } from '../../src/engine';
import { liveDeviceTensors } from '../../src/engine/model/device';
import { QWEN_TOKENIZER, TINY_SHAPES } from './helpers/fakeHub';
import { finalTrace } from './helpers/complete';

process.env.XDG_RUNTIME_DIR ??= fs.mkdtempSync(path.join(os.tmpdir(), 'hasten-xdg-'));

const VOCAB = 151936;
const ROW_BYTES = VOCAB * 4;
const LIMIT = 64 * 1024;
const PROMPTS: [string, string][] = [
  ['def add(a, b):\n    return a + b\n\ndef add(a, b):\n', ''],
  ['const items = [1, 2, 3];\nconst doubled = items.map((x) => ', ');\n'],
];

const complete = (engine: Engine, prefix: string, suffix: string, strategy: Strategy, maxNewTokens = 8, sampling = GREEDY): Promise<CompletionTrace> =>
  finalTrace(engine, { prefix, suffix, strategy, maxNewTokens, sampling });

describe(`a greedy token on WebGPU reads back at most 64 KB at vocabulary ${VOCAB}`, async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hasten-readback-'));
  const ckpt = writeRandomCheckpoint(path.join(tmp, 'ckpt'), TINY_SHAPES['fake-org/tiny-qwen2']!, { seed: 15, tokenizerDir: QWEN_TOKENIZER });
  const dir = path.join(tmp, 'model');
  await build({ from: ckpt, out: dir, dtype: 'fp32', variants: ['standard', 'fast', 'tree'], contextLength: 256 });
  const skip = await webgpuSkip(path.join(dir, 'onnx', 'model_fast.onnx'));
  if (skip === null) return;
  let gpu: Engine;
  let cpu: Engine;
  const warnings: string[] = [];
  before(async () => {
    if (skip) return;
    // The model drafts for itself: every draft node on the main path is accepted, the tree's side branches are not.
    const load = (provider: 'webgpu' | 'cpu') => Engine.load({ modelDir: dir, draftDir: dir, cmlmDir: null, runtime: { provider, threads: 1 }, log: (l, m) => { if (l === 'warn') warnings.push(m); } });
    gpu = await load('webgpu');
    cpu = await load('cpu');
  });
  after(async () => {
    await gpu?.dispose();
    await cpu?.dispose();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('autoregressive, prompt lookup and lookahead: the CPU\'s tokens, and under 64 KB copied to the host per generated token', { skip }, async () => {
    assert.equal(gpu.target.provider, 'webgpu', warnings.join('; '));
    assert.equal(gpu.target.graph, 'fast');
    for (const [prefix, suffix] of PROMPTS) {
      for (const s of ['autoregressive', 'prompt-lookup', 'lookahead'] as Strategy[]) {
        const want = await complete(cpu, prefix, suffix, s, 16);
        const got = await complete(gpu, prefix, suffix, s, 16);
        assert.deepEqual(got.output, want.output, `${s}: tokens`);
        assert.equal(want.deviceReadBytes, undefined, 'the cpu copies nothing from a device');
        assert.ok(got.tokens > 0 && got.deviceReadBytes !== undefined, `${s}: ${got.tokens} tokens, ${got.deviceReadBytes} bytes`);
        // Prefill included. Token healing reads one row when the prompt's greedy token does not start with the
        // healed text (this random model's usually does not; then the last prompt token runs again for its row).
        // Every other read is argmaxes, 8 bytes a row.
        const perToken = got.deviceReadBytes! / got.tokens;
        const healRow = got.deviceReadBytes! >= ROW_BYTES ? ROW_BYTES : 0;
        assert.ok(perToken <= LIMIT, `${s}: ${got.deviceReadBytes} bytes for ${got.tokens} tokens (a logits row is ${ROW_BYTES})`);
        assert.ok(got.deviceReadBytes! - healRow <= 64 * got.tokens, `${s}: ${got.deviceReadBytes! - healRow} bytes besides the healing row for ${got.tokens} tokens`);
        console.log(`# ${s}: ${got.tokens} tokens, ${got.deviceReadBytes} bytes copied to the host (${healRow ? 'a healing row and ' : ''}argmaxes): ${perToken.toFixed(0)} a token`);
      }
    }
  });

  test('sampling reads the rows it needs: the CPU\'s tokens for the same seed, a row a step', { skip }, async () => {
    const sampling = { temperature: 0.8, topK: 20, topP: 0.95, seed: 3 };
    const [prefix, suffix] = PROMPTS[0]!;
    const want = await complete(cpu, prefix, suffix, 'autoregressive', 6, sampling);
    const got = await complete(gpu, prefix, suffix, 'autoregressive', 6, sampling);
    assert.equal(gpu.target.provider, 'webgpu', warnings.join('; '));
    assert.deepEqual(got.output, want.output);
    assert.ok(got.deviceReadBytes! >= got.tokens * ROW_BYTES, `${got.deviceReadBytes} bytes for ${got.tokens} sampled tokens`);
  });

  test('a token tree is verified in one pass on the device, with the CPU\'s tokens', { skip }, async () => {
    // Session runs per tree forward of the target: a path-by-path verification would run one per root-to-leaf path.
    const passes: number[] = [];
    let sessionRuns = 0;
    const proto = (ort.InferenceSession as unknown as { prototype: { run: (...args: unknown[]) => unknown } }).prototype;
    const run = proto.run;
    proto.run = function (this: unknown, ...args: unknown[]) {
      sessionRuns++;
      return run.apply(this, args);
    };
    const forward = gpu.target.forward.bind(gpu.target);
    gpu.target.forward = async (tokens, parents, signal, opts) => {
      const runs0 = sessionRuns;
      const out = await forward(tokens, parents, signal, opts);
      if (parents && parents.some((p, i) => p !== i - 1)) passes.push(sessionRuns - runs0);
      return out;
    };
    try {
      for (const [prefix, suffix] of PROMPTS) {
        const want = await complete(cpu, prefix, suffix, 'token-tree', 10);
        const got = await complete(gpu, prefix, suffix, 'token-tree', 10);
        assert.deepEqual(got.output, want.output);
      }
    } finally {
      gpu.target.forward = forward;
      proto.run = run;
    }
    assert.ok(passes.length > 0, 'no step verified a tree with a side branch: the test would prove little');
    assert.deepEqual(passes, passes.map(() => 1), 'one forward pass per tree');
  });

  test('device tensors: a constant set over 200 short completions, none left after dispose', { skip }, async () => {
    // The smallest bundled model (vocabulary 8,192) as target and as its own draft: 200 completions of
    // up to 3 tokens take about a minute on lavapipe (at 151,936 rows each run's head costs seconds there).
    const small = path.join(__dirname, '..', '..', 'models', 'hasten-draft-s');
    const before = liveDeviceTensors();
    const e = await Engine.load({ modelDir: small, draftDir: small, cmlmDir: null, runtime: { provider: 'webgpu', threads: 1 }, log: (l, m) => { if (l === 'warn') warnings.push(m); } });
    assert.equal(e.target.provider, 'webgpu', warnings.join('; '));
    const strategies: Strategy[] = ['autoregressive', 'draft-model', 'prompt-lookup'];
    const counts: number[] = [];
    const t0 = performance.now();
    for (let i = 0; i < 200; i++) {
      const [prefix, suffix] = PROMPTS[i % PROMPTS.length]!;
      await complete(e, prefix.slice(0, prefix.length - (i % 7)), suffix, strategies[i % strategies.length]!, 3);
      counts.push(liveDeviceTensors() - before);
    }
    console.log(`# 200 completions on webgpu in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    // Target and draft each hold one K and one V per layer once they have run.
    const expected = 2 * 2 * e.target.folder.config.numLayers;
    assert.deepEqual(counts.slice(strategies.length), counts.slice(strategies.length).map(() => expected), `live device tensors per completion: ${counts.join(', ')}`);
    assert.equal(e.target.provider, 'webgpu', 'no fallback to cpu on the way');
    await e.dispose();
    assert.equal(liveDeviceTensors(), before, 'every device tensor was released by dispose');
  });
});
