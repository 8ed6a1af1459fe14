// The memory estimate made before a model loads: its parts from the files on disk and config.json,
// and a refusal naming both figures when a model cannot fit (a sparse weights file larger than this
// machine's memory stands in for a too-large model, refused before onnxruntime reads a byte of it).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeRandomCheckpoint } from '../../bench/checkpoints';
import { build } from '../../src/build/builder';
import { Engine, HastenError } from '../../src/engine';
import { CausalModel } from '../../src/engine/model/causal';
import { openModelFolder } from '../../src/engine/model/folder';
import { availableMemory, checkMemory, estimateMemory, isQuantised, weightFiles } from '../../src/engine/model/memory';
import { DEFAULT_RUNTIME } from '../../src/engine/model/session';

const ROOT = path.resolve(__dirname, '..', '..');
const TARGET = path.join(ROOT, 'models', 'hasten-target');
const MB = 2 ** 20;

let tmp: string;
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hasten-mem-'));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('the estimate', () => {
  test('the bundled target: its fast graph plus the shared weights, and a KV cache of its slots', () => {
    const f = openModelFolder(TARGET, { verify: false });
    const graph = f.files.fast ?? f.files.standard;
    const files = weightFiles(graph);
    const c = f.config;
    const e = estimateMemory(graph, c, f.raw, c.kvSlots ?? c.contextLength);
    assert.equal(e.weightBytes, files.reduce((n, x) => n + fs.statSync(x).size, 0));
    assert.equal(e.kvBytes, 2 * c.numLayers * c.numKvHeads * c.headDim * (c.kvSlots ?? c.contextLength) * 4);
    assert.ok(e.bytes > e.weightBytes + e.kvBytes && e.bytes < e.weightBytes + e.kvBytes + 100 * MB);
  });

  test('onnx-community files: a graph\'s own _data parts count, quantised suffixes count 3x', () => {
    const dir = path.join(tmp, 'oc', 'onnx');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'model_q4.onnx'), Buffer.alloc(1000));
    for (const f of ['model_q4.onnx_data', 'model_q4.onnx_data_1']) fs.writeFileSync(path.join(dir, f), Buffer.alloc(4000));
    fs.writeFileSync(path.join(dir, 'model.onnx_data'), Buffer.alloc(50_000));
    const graph = path.join(dir, 'model_q4.onnx');
    assert.deepEqual(weightFiles(graph).map((f) => path.basename(f)).sort(), ['model_q4.onnx', 'model_q4.onnx_data', 'model_q4.onnx_data_1']);
    assert.ok(isQuantised(graph, {}));
    assert.ok(!isQuantised(path.join(dir, 'model_fp16.onnx'), {}));
    assert.ok(isQuantised(path.join(dir, 'model_fast.onnx'), { hasten: { build: { dtype: 'int4' } } }));
    const cfg = { numLayers: 2, numKvHeads: 2, headDim: 16, modelType: 'qwen2', vocabSize: 10, contextLength: 100, eosIds: [] };
    const e = estimateMemory(graph, cfg, {}, 100);
    assert.equal(e.weightBytes, 9000);
    assert.equal(e.kvBytes, 2 * 2 * 2 * 16 * 100 * 4);
    assert.equal(e.bytes, 9000 * 3 + e.kvBytes + 64 * MB);
    fs.writeFileSync(path.join(dir, 'model_q4f16.onnx'), Buffer.alloc(10));
    assert.equal(estimateMemory(path.join(dir, 'model_q4f16.onnx'), cfg, {}, 100).kvBytes, 2 * 2 * 2 * 16 * 100 * 2);
  });
});

describe('the refusal', () => {
  const e = { weightBytes: 3e9, quantised: false, kvBytes: 0.5e9, kvSlots: 4096, bytes: 3.6e9 };

  test('available memory: os.freemem on Linux and Windows, the total on macOS (whose freemem leaves out reclaimable cache)', () => {
    assert.equal(availableMemory('darwin').free, os.totalmem());
    const linux = availableMemory('linux');
    assert.ok(linux.free > 0 && linux.free <= linux.total);
  });

  test('a model that fits in the available memory passes', () => {
    checkMemory('m', e, { free: 4e9, total: 8e9 });
  });

  test('more than is available now: both figures, and what to do', () => {
    assert.throws(() => checkMemory('qwen-7b (onnx/model.onnx)', e, { free: 2e9, total: 8e9 }), (err: HastenError) => {
      assert.equal(err.code, 'model-too-large');
      assert.match(err.message, /^qwen-7b \(onnx\/model\.onnx\) needs about 3\.6 GB of memory \(3\.0 GB of weights and 500 MB of KV cache for 4096 tokens, from config\.json\), and this machine has 2\.0 GB available \(8\.0 GB in all\)\./);
      assert.match(err.fix, /Close other programs/);
      return true;
    });
  });

  test('more than the machine has in all: says so, and names a 4-bit build', () => {
    assert.throws(() => checkMemory('m', { ...e, quantised: true }, { free: 1e9, total: 2e9 }), (err: HastenError) => {
      assert.match(err.message, /counted 3x.*1\.0 GB available of 2\.0 GB in all/);
      assert.match(err.fix, /--dtype int4/);
      return true;
    });
  });

  test('a model larger than this machine is refused before onnxruntime opens it; the same folder loaded before', async () => {
    const ck = writeRandomCheckpoint(path.join(tmp, 'ck'), { family: 'llama', hidden: 32, layers: 1, heads: 2, kvHeads: 1, headDim: 16, intermediate: 64, vocab: 8192, tied: true, maxPositions: 64 },
      { seed: 3, tokenizerDir: TARGET });
    const out = (await build({ from: ck, out: path.join(tmp, 'big'), variants: ['standard', 'fast'] })).out;
    const folder = openModelFolder(out);
    // Loads as built.
    await (await CausalModel.open(folder, { ...DEFAULT_RUNTIME, threads: 1 })).dispose();
    // A graph file as large as twice this machine's memory (sparse: no disk used) stands in for a huge model.
    const huge = 2 * os.totalmem();
    fs.truncateSync(folder.files.fast!, huge);
    await assert.rejects(Engine.load({ modelDir: out, draftDir: null, runtime: { threads: 1 } }), (err: HastenError) =>
      err.code === 'model-too-large' && err.message.includes('big (onnx/model_fast.onnx) needs about') && err.message.includes('in all'));
    // The standard graph (fast: false) is estimated from its own file.
    await (await CausalModel.open(folder, { ...DEFAULT_RUNTIME, threads: 1 }, false, { fast: false })).dispose();
  });
});
