// The model runtime on the bundled target: KV rollback and prefix reuse match recomputation, tree
// verification matches linear runs of each branch, and bad input fails clearly.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { CausalModel, Logits } from '../../src/engine/model/causal';
import { KvCache } from '../../src/engine/model/kvcache';
import { openModelFolder } from '../../src/engine/model/folder';
import { DEFAULT_RUNTIME, RuntimeOptions } from '../../src/engine/model/session';
import { autoregressive } from '../../src/engine/decoders/autoregressive';
import { Engine, GREEDY, HastenError } from '../../src/engine';

const models = path.resolve(__dirname, '..', '..', 'models');
const TARGET = path.join(models, 'hasten-target');
const DRAFT = path.join(models, 'hasten-draft-s');
const rt: RuntimeOptions = { ...DEFAULT_RUNTIME, threads: 1 };
const TOL = 1e-4;

function maxDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Logits of the last token of `tokens`, computed from scratch on a fresh cache. */
async function fresh(model: CausalModel, tokens: number[]): Promise<Float32Array> {
  model.reset();
  const l = await model.forward(tokens, null);
  model.commit(tokens.map((_, i) => i));
  return l.row(tokens.length - 1).slice();
}

const PROMPT = [1, 300, 301, 302, 303, 304, 305, 3, 306, 307, 2, 308];

describe('model runtime', () => {
  let model: CausalModel;
  let reference: CausalModel;
  let batched: CausalModel;
  before(async () => {
    const folder = openModelFolder(TARGET);
    model = await CausalModel.open(folder, rt, true);
    reference = await CausalModel.open(folder, rt, false);
    // The standard graph (what any Optimum export offers): masked-holes cache, trees as batched paths.
    batched = await CausalModel.open(folder, rt, false, { fast: false });
  });
  after(async () => {
    await model.dispose();
    await reference.dispose();
    await batched.dispose();
  });

  test('rolling back rejected draft tokens (masked holes) matches recomputing without them', async () => {
    model.reset();
    await model.forward(PROMPT, null);
    model.commit(PROMPT.map((_, i) => i));
    await model.forward([400, 401, 402, 403], null);
    model.commit([0, 1]); // 402 and 403 rejected: holes
    const after = await model.forward([404], null);
    model.commit([0]);
    const want = await fresh(reference, [...PROMPT, 400, 401, 404]);
    assert.ok(maxDiff(after.row(0), want) < TOL, `diff ${maxDiff(after.row(0), want)}`);
    assert.equal(model.length, PROMPT.length + 3);
  });

  test('the builder\'s folder runs its fast graph (in-place cache); the standard graph stays loadable', () => {
    assert.equal(model.graph, 'fast');
    assert.equal(reference.graph, 'fast');
    assert.equal(batched.graph, 'standard');
  });

  test('rolling back on the standard graph (masked holes) matches recomputing without them', async () => {
    batched.reset();
    await batched.forward(PROMPT, null);
    batched.commit(PROMPT.map((_, i) => i));
    await batched.forward([400, 401, 402, 403], null);
    batched.commit([0, 1]);
    const after = await batched.forward([404], null);
    batched.commit([0]);
    const want = await fresh(reference, [...PROMPT, 400, 401, 404]);
    assert.ok(maxDiff(after.row(0), want) < TOL, `diff ${maxDiff(after.row(0), want)}`);
  });

  test('compaction squeezes holes out without changing the logits (standard graph)', async () => {
    const m = batched;
    m.reset();
    await m.forward(PROMPT, null);
    m.commit(PROMPT.map((_, i) => i));
    for (let k = 0; k < 6; k++) {
      await m.forward([410 + k, 500, 501, 502, 503, 504, 505, 506], null);
      m.commit([0]); // seven holes per step: compaction must kick in
    }
    assert.ok(m.cache.compactions > 0, 'expected at least one compaction');
    const after = await m.forward([420], null);
    const want = await fresh(reference, [...PROMPT, 410, 411, 412, 413, 414, 415, 420]);
    assert.ok(maxDiff(after.row(0), want) < TOL, `diff ${maxDiff(after.row(0), want)}`);
  });

  test('a new request reuses the longest common prefix of the cache', async () => {
    model.reset();
    await model.forward([...PROMPT, 430, 431], null);
    model.commit([...PROMPT, 430, 431].map((_, i) => i));
    const kept = model.retain([...PROMPT, 440]);
    assert.equal(kept, PROMPT.length);
    const l = await model.forward([440], null);
    const want = await fresh(reference, [...PROMPT, 440]);
    assert.ok(maxDiff(l.row(0), want) < TOL);
  });

  async function treeCase(m: CausalModel) {
    // After PROMPT: root 450 with children 451 and 460; 451 has child 452; 460 has children 461, 462.
    const tokens = [450, 451, 460, 452, 461, 462];
    const parents = [-1, 0, 0, 1, 2, 2];
    m.reset();
    await m.forward(PROMPT, null);
    m.commit(PROMPT.map((_, i) => i));
    const logits: Logits = await m.forward(tokens, parents);
    for (let i = 0; i < tokens.length; i++) {
      const branch: number[] = [];
      for (let j = i; j !== -1; j = parents[j]!) branch.unshift(tokens[j]!);
      const want = await fresh(reference, [...PROMPT, ...branch]);
      assert.ok(maxDiff(logits.row(i), want) < TOL, `node ${i}: diff ${maxDiff(logits.row(i), want)}`);
    }
    // Accept root -> 460 -> 462; the next token must see exactly that branch.
    m.commit([0, 2, 5]);
    const next = await m.forward([470], null);
    const want = await fresh(reference, [...PROMPT, 450, 460, 462, 470]);
    assert.ok(maxDiff(next.row(0), want) < TOL, `after accepting a branch: diff ${maxDiff(next.row(0), want)}`);
  }

  test('tree attention: every node equals a linear run of its branch, and the accepted branch continues correctly', async () => {
    assert.ok(model.nativeTree);
    await treeCase(model);
  });

  test('batched paths (any standard export): same logits as linear runs', async () => {
    assert.ok(!batched.nativeTree);
    await treeCase(batched);
  });

  test('a block past the context length is refused with a clear error', async () => {
    model.reset();
    const long = Array.from({ length: model.contextLength + 1 }, (_, i) => 300 + (i % 50));
    await assert.rejects(model.forward(long, null), (e: unknown) => e instanceof HastenError && e.code === 'context-overflow');
  });

  test('an empty prompt is a clear error', async () => {
    const gen = autoregressive(model, { prompt: [], maxNewTokens: 4, sampling: GREEDY });
    await assert.rejects(gen.next(), (e: unknown) => e instanceof HastenError && e.code === 'bad-request');
  });
});

describe('bad model folders', () => {
  let tmp: string;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hasten-bad-'));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  /** Copies a bundled model folder (without the manifest beside it, unless asked). */
  function copy(src: string, name: string, withManifest = false): string {
    const root = path.join(tmp, name);
    const dir = path.join(root, path.basename(src));
    fs.cpSync(src, dir, { recursive: true });
    if (withManifest) fs.copyFileSync(path.join(models, 'manifest.json'), path.join(root, 'manifest.json'));
    return dir;
  }

  const code = (c: string) => (e: unknown) => e instanceof HastenError && e.code === c && e.message.length > 20;

  test('missing folder', async () => {
    await assert.rejects(Engine.load({ modelDir: path.join(tmp, 'nope') }), code('model-missing'));
  });

  test('a folder without onnx/model.onnx runs its fast graph', async () => {
    const dir = copy(DRAFT, 'fast-only');
    fs.rmSync(path.join(dir, 'onnx', 'model.onnx'));
    const e = await Engine.load({ modelDir: dir, draftDir: null, cmlmDir: null });
    try {
      assert.equal(e.target.graph, 'fast');
    } finally {
      await e.dispose();
    }
  });

  test('missing onnx/model.onnx (and no fast graph) names the file', async () => {
    const dir = copy(DRAFT, 'missing');
    fs.rmSync(path.join(dir, 'onnx', 'model.onnx'));
    fs.rmSync(path.join(dir, 'onnx', 'model_fast.onnx'));
    await assert.rejects(Engine.load({ modelDir: dir, draftDir: null }), (e: unknown) => code('model-missing')(e) && (e as Error).message.includes('model.onnx'));
  });

  test('truncated ONNX', async () => {
    // The graph the CPU runs: the CPU graph where a build has it (the bundled folders since builder 4).
    const dir = copy(DRAFT, 'truncated');
    const f = path.join(dir, 'onnx', 'model_fast_cpu.onnx');
    assert.ok(fs.existsSync(f), 'the bundled draft carries the CPU graph');
    fs.writeFileSync(f, fs.readFileSync(f).subarray(0, 1000));
    await assert.rejects(Engine.load({ modelDir: dir, draftDir: null }), code('model-corrupt'));
  });

  test('a file that does not match the manifest sha256', async () => {
    const dir = copy(DRAFT, 'sha', true);
    const f = path.join(dir, 'onnx', 'model.onnx_data');
    const buf = fs.readFileSync(f);
    buf[100] = buf[100]! ^ 0xff;
    fs.writeFileSync(f, buf);
    await assert.rejects(Engine.load({ modelDir: dir, draftDir: null }), (e: unknown) => code('model-corrupt')(e) && (e as Error).message.includes('sha256'));
  });

  test('config.json that disagrees with the graph', async () => {
    for (const [key, value] of [['num_hidden_layers', 3], ['num_key_value_heads', 4]] as const) {
      const dir = copy(DRAFT, `config-${key}`);
      const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
      cfg[key] = value;
      fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg));
      await assert.rejects(Engine.load({ modelDir: dir, draftDir: null }), code('model-mismatch'));
    }
  });

  test('a tokenizer larger than the model vocabulary', async () => {
    const dir = copy(DRAFT, 'vocab');
    const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
    cfg.vocab_size = 4096;
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg));
    await assert.rejects(Engine.load({ modelDir: dir, draftDir: null }), code('tokenizer-mismatch'));
  });

  test('a draft whose vocabulary differs from the target (two ids swapped)', async () => {
    const dir = copy(DRAFT, 'draft-tok');
    const tj = JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer.json'), 'utf8'));
    const [a, b] = Object.keys(tj.model.vocab).slice(300, 302) as [string, string];
    [tj.model.vocab[a], tj.model.vocab[b]] = [tj.model.vocab[b], tj.model.vocab[a]];
    fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(tj));
    await assert.rejects(Engine.load({ modelDir: TARGET, draftDir: dir }), (err: HastenError) =>
      err.code === 'tokenizer-mismatch' && err.message.includes(`the token ${JSON.stringify(a)} is id`));
  });

  test('an unavailable execution provider falls back to cpu with a message', async () => {
    const logs: string[] = [];
    const provider = process.platform === 'darwin' ? 'dml' : 'coreml';
    const engine = await Engine.load({ modelDir: DRAFT, draftDir: null, runtime: { provider }, log: (_, m) => logs.push(m) });
    try {
      assert.equal(engine.target.provider, 'cpu');
      assert.ok(logs.some((m) => m.includes(provider) && m.includes('cpu')), logs.join('\n'));
    } finally {
      await engine.dispose();
    }
  });
});

describe('engine requests', () => {
  let engine: Engine;
  before(async () => {
    engine = await Engine.load({ modelDir: TARGET, runtime: { threads: 1 } });
  });
  after(async () => engine.dispose());

  test('a prompt far longer than the context is trimmed to fit, and completes', async () => {
    const prefix = 'const x = 1;\n'.repeat(20_000);
    let last;
    for await (const u of engine.complete({ prefix, suffix: 'y\n'.repeat(20_000), strategy: 'autoregressive', maxNewTokens: 8 })) last = u;
    assert.ok(last?.done);
    assert.ok(last!.trace.promptTokens <= engine.target.contextLength - 8);
  });

  test('a consumer that stops reading without finishing does not block the next request', async () => {
    const it = engine.complete({ prefix: 'def f(x):\n', suffix: '', strategy: 'autoregressive', maxNewTokens: 16 })[Symbol.asyncIterator]();
    await it.next(); // read one update, then abandon the iterator without return()
    let done = false;
    for await (const u of engine.complete({ prefix: 'def g(y):\n', suffix: '', strategy: 'autoregressive', maxNewTokens: 4 })) done = u.done;
    assert.ok(done);
  });

  test('an abort in the middle of decoding stops it, and the engine stays usable', async () => {
    const ctrl = new AbortController();
    let chunks = 0;
    await assert.rejects(async () => {
      for await (const u of engine.complete({ prefix: 'def f(x):\n', suffix: '', strategy: 'draft-model', maxNewTokens: 64, signal: ctrl.signal, stopText: () => false })) {
        chunks++;
        if (!u.done) ctrl.abort();
      }
    }, (e: unknown) => e instanceof Error && e.name === 'AbortError');
    assert.equal(chunks, 1);
    let done = false;
    for await (const u of engine.complete({ prefix: 'def f(x):\n', suffix: '', strategy: 'autoregressive', maxNewTokens: 4 })) done = u.done;
    assert.ok(done);
  });
});

test('KvCache.compact moves exactly the valid slots, in order, per head and layer', () => {
  const [layers, heads, dim, slots] = [2, 2, 3, 40];
  // Every value names its tensor, head, slot and lane, so any misplaced copy shows.
  const tensor = (t: number) => new ort.Tensor('float32', Float32Array.from({ length: heads * slots * dim }, (_, i) => t * 1e5 + i), [1, heads, slots, dim]);
  const c = new KvCache(layers, heads, dim);
  c.append([tensor(0), tensor(1)], [tensor(2), tensor(3)], slots);
  const keep = [0, 1, 2, 5, 6, 7, 8, 20, 21, 39];
  c.keep(keep);
  c.compact();
  assert.equal(c.length, keep.length);
  assert.equal(c.count, keep.length);
  for (let l = 0; l < layers; l++) {
    for (const [t, got] of [[l, c.key(l)], [2 + l, c.value(l)]] as const) {
      assert.deepEqual(got.dims, [1, heads, keep.length, dim]);
      const want = [];
      for (let h = 0; h < heads; h++) for (const s of keep) for (let d = 0; d < dim; d++) want.push(t * 1e5 + (h * slots + s) * dim + d);
      assert.deepEqual(Array.from(got.data as Float32Array), want);
    }
  }
});
