// onnx-community / Optimum folders loaded as they are: every dtype suffix picked by preference or by
// name, graphs with and without position_ids, fp16 K/V and logits, the older decoder_model_merged with
// use_cache_branch. Each layout is the builder's fp32 standard graph of one random checkpoint rewritten
// (helpers/onnxVariants.ts), so every one must decode the same greedy tokens as the original.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeRandomCheckpoint } from '../../bench/checkpoints';
import { EngineHost } from '../../src/completion/engineHost';
import { readConfig } from '../../src/config';
import { build } from '../../src/build/builder';
import { HastenError } from '../../src/engine/errors';
import { CausalModel } from '../../src/engine/model/causal';
import { DTYPE_PREFERENCE, onnxExports, openModelFolder } from '../../src/engine/model/folder';
import { layeredFiles } from '../../src/engine/model/layered';
import { DEFAULT_RUNTIME, RuntimeOptions } from '../../src/engine/model/session';
import { VariantOptions, writeVariant } from './helpers/onnxVariants';

const ROOT = path.resolve(__dirname, '..', '..');
const TOKENIZER = path.join(ROOT, 'models', 'hasten-target');
const SHAPE = { family: 'qwen2' as const, hidden: 64, layers: 2, heads: 4, kvHeads: 2, headDim: 16, intermediate: 128, vocab: 8192, tied: true, maxPositions: 256 };
const PROMPT = [11, 40, 41, 42, 100, 200, 300, 17, 19];
const runtime: RuntimeOptions = { ...DEFAULT_RUNTIME, threads: 1 };

let tmp: string;
let built: string;
before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hasten-onnxc-'));
  const ck = writeRandomCheckpoint(path.join(tmp, 'ck'), SHAPE, { seed: 7, tokenizerDir: TOKENIZER });
  built = (await build({ from: ck, out: path.join(tmp, 'built'), variants: ['standard'] })).out;
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A folder as an onnx-community repo has it: config, tokenizer, onnx/<file> rewritten with `o`, the weights copied. */
function community(name: string, file: string, o: VariantOptions): string {
  const dir = path.join(tmp, name);
  fs.mkdirSync(path.join(dir, 'onnx'), { recursive: true });
  for (const f of fs.readdirSync(built)) if (f.endsWith('.json')) fs.copyFileSync(path.join(built, f), path.join(dir, f));
  // Copied, not linked: onnxruntime refuses external data that resolves outside the model's folder.
  fs.copyFileSync(path.join(built, 'onnx', 'model.onnx_data'), path.join(dir, 'onnx', 'model.onnx_data'));
  writeVariant(path.join(built, 'onnx', 'model.onnx'), path.join(dir, 'onnx', file), o);
  return dir;
}

/** Greedy tokens after PROMPT, one forward per token on the standard path, and the first step's logits. */
async function greedy(dir: string, n = 12): Promise<{ tokens: number[]; first: Float32Array }> {
  const m = await CausalModel.open(openModelFolder(dir), runtime);
  try {
    assert.equal(m.graph, 'standard');
    let logits = await m.forward(PROMPT, null);
    m.commit(PROMPT.map((_, i) => i));
    const first = Float32Array.from(logits.row(PROMPT.length - 1));
    const tokens: number[] = [];
    for (let i = 0; i < n; i++) {
      const row = logits.row(logits.rows - 1);
      let best = 0;
      for (let v = 1; v < row.length; v++) if (row[v]! > row[best]!) best = v;
      tokens.push(best);
      logits = await m.forward([best], null);
      m.commit([0]);
    }
    return { tokens, first };
  } finally {
    await m.dispose();
  }
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

describe('onnx-community layouts decode like the builder graph they came from', () => {
  let ref: { tokens: number[]; first: Float32Array };
  before(async () => {
    ref = await greedy(built);
  });

  test('without position_ids (model_int8.onnx): positions from the mask inside the graph', async () => {
    const got = await greedy(community('nopos', 'model_int8.onnx', { noPositions: true }));
    assert.deepEqual(got.tokens, ref.tokens);
    assert.ok(maxDiff(got.first, ref.first) < 1e-4, `logits differ by ${maxDiff(got.first, ref.first)}`);
  });

  test('fp16 K/V and logits (model_q4f16.onnx): fed and read as float16', async () => {
    const got = await greedy(community('q4f16', 'model_q4f16.onnx', { fp16: true }));
    assert.deepEqual(got.tokens, ref.tokens);
    const d = maxDiff(got.first, ref.first);
    // fp16 logits carry about 3 significant digits; bigger differences would be a wrong conversion.
    assert.ok(d > 0 && d < 0.05, `fp16 logits differ by ${d}`);
  });

  test('decoder_model_merged.onnx with use_cache_branch (false on the first call, true after)', async () => {
    const got = await greedy(community('merged', 'decoder_model_merged.onnx', { cacheBranch: true }));
    assert.deepEqual(got.tokens, ref.tokens);
  });

  test('decoder_model_merged_fp16.onnx without position_ids: all three at once', async () => {
    const got = await greedy(community('merged16', 'decoder_model_merged_fp16.onnx', { fp16: true, noPositions: true, cacheBranch: true }));
    assert.deepEqual(got.tokens, ref.tokens);
  });

  test('fp16 cache with rejected drafts: holes, then compaction, in float16, same greedy tokens', async () => {
    const m = await CausalModel.open(openModelFolder(path.join(tmp, 'q4f16')), runtime);
    try {
      assert.equal(m.cache.type, 'float16');
      let logits = await m.forward(PROMPT, null);
      m.commit(PROMPT.map((_, i) => i));
      const tokens: number[] = [];
      for (let i = 0; i < ref.tokens.length; i++) {
        const row = logits.row(logits.rows - 1);
        let best = 0;
        for (let v = 1; v < row.length; v++) if (row[v]! > row[best]!) best = v;
        tokens.push(best);
        // The token and a three-token draft after it, all rejected: three holes a step.
        const block = await m.forward([best, 1, 2, 3], null);
        m.commit([0]);
        logits = { rows: 1, row: () => block.row(0) } as unknown as typeof logits;
      }
      assert.ok(m.cache.compactions > 0, 'the cache was compacted');
      assert.deepEqual(tokens, ref.tokens);
    } finally {
      await m.dispose();
    }
  });

  test('a token tree on an fp16 export is verified as batched paths (no tree graph needed)', async () => {
    const dir = path.join(tmp, 'q4f16');
    const m = await CausalModel.open(openModelFolder(dir), runtime, true);
    try {
      assert.equal(m.nativeTree, false);
      await m.forward(PROMPT, null);
      m.commit(PROMPT.map((_, i) => i));
      const [a, b] = ref.tokens;
      // Two branches after the prompt: [a, b] (the greedy path) and [5].
      const tree = await m.forward([a!, b!, 5], [-1, 0, -1]);
      m.commit([0, 1]);
      const chain = await CausalModel.open(openModelFolder(dir), runtime);
      try {
        const c = await chain.forward([...PROMPT, a!, b!], null);
        assert.ok(maxDiff(Float32Array.from(tree.row(1)), Float32Array.from(c.row(PROMPT.length + 1))) < 0.05);
      } finally {
        await chain.dispose();
      }
      const next = await m.forward([ref.tokens[2]!], null);
      const row = next.row(0);
      let best = 0;
      for (let v = 1; v < row.length; v++) if (row[v]! > row[best]!) best = v;
      assert.equal(best, ref.tokens[3]);
    } finally {
      await m.dispose();
    }
  });
});

describe('picking an export among dtype suffixes', () => {
  let dir: string;
  before(() => {
    dir = path.join(tmp, 'many');
    fs.mkdirSync(path.join(dir, 'onnx'), { recursive: true });
    for (const f of fs.readdirSync(built)) if (f.endsWith('.json')) fs.copyFileSync(path.join(built, f), path.join(dir, f));
    for (const f of ['model_q4.onnx', 'model_q4f16.onnx', 'model_fp16.onnx', 'model_uint8.onnx', 'model_bnb4.onnx', 'decoder_model_merged_quantized.onnx']) {
      fs.writeFileSync(path.join(dir, 'onnx', f), 'not read when not picked');
    }
  });

  test('every suffix is found, in the stated preference order', () => {
    assert.deepEqual(onnxExports(dir).map((e) => e.file), ['decoder_model_merged_quantized.onnx', 'model_uint8.onnx', 'model_q4.onnx', 'model_bnb4.onnx', 'model_q4f16.onnx', 'model_fp16.onnx']);
    assert.deepEqual(DTYPE_PREFERENCE.slice(0, 2), ['fp32', 'int8']);
    assert.equal(path.basename(openModelFolder(dir).files.standard), 'decoder_model_merged_quantized.onnx');
  });

  test('an option names one', () => {
    assert.equal(path.basename(openModelFolder(dir, { dtype: 'q4f16' }).files.standard), 'model_q4f16.onnx');
    assert.equal(path.basename(openModelFolder(dir, { dtype: 'bnb4' }).files.standard), 'model_bnb4.onnx');
  });

  test('a named dtype the folder lacks is an error listing what it has', () => {
    assert.throws(() => openModelFolder(dir, { dtype: 'int8' }), (err: HastenError) => {
      assert.equal(err.code, 'model-missing');
      assert.match(err.message, /no int8 export \(model_int8\.onnx\).*model_q4\.onnx/);
      assert.match(err.fix, /^Pick one of quantized, uint8, q4, bnb4, q4f16, fp16, or download onnx\/model_int8\.onnx/);
      return true;
    });
  });

  test('hasten.onnxDtype picks the export the engine runs; one the folder lacks falls back to the bundled model, naming the exports it has', { timeout: 120_000 }, async () => {
    // fp32 and int8 (without position_ids) of the same weights.
    const two = community('two', 'model_int8.onnx', { noPositions: true });
    fs.copyFileSync(path.join(built, 'onnx', 'model.onnx'), path.join(two, 'onnx', 'model.onnx'));
    const warnings: string[] = [];
    const log = { trace() {}, debug() {}, info() {}, warn() {}, error: (m: string) => warnings.push(m) };
    const host = new EngineHost(path.join(ROOT, 'models'), log);
    const setting = (value: string) => readConfig({ get: <T>(k: string, d: T) => (k === 'model' ? two : k === 'draftModel' ? 'none' : k === 'onnxDtype' ? value : d) as T }).engine;
    const running = () => path.basename((host.engine as unknown as { target: { folder: { files: { standard: string } } } }).target.folder.files.standard);
    try {
      assert.equal(setting('auto').onnxDtype, 'auto');
      await host.load(setting('auto'));
      assert.equal(running(), 'model.onnx', 'auto: fp32 first');
      await host.load(setting('int8'));
      assert.equal(running(), 'model_int8.onnx');
      assert.deepEqual(warnings, []);
      await host.load(setting('q4'));
      assert.equal(host.engine?.target.folder.name, 'hasten-target');
      assert.match(warnings.join('\n'), /has no q4 export \(model_q4\.onnx\); it has model\.onnx, model_int8\.onnx/);
      assert.equal(setting('q5').onnxDtype, 'auto', 'an unknown value falls back to auto');
    } finally {
      await host.dispose();
    }
  });

  test('a token tree on a fast graph built without its tree twin names the build that makes it', async () => {
    const ck = path.join(tmp, 'ck');
    const out = (await build({ from: ck, out: path.join(tmp, 'fast-only'), variants: ['fast'] })).out;
    const m = await CausalModel.open(openModelFolder(out), runtime);
    try {
      assert.equal(m.graph, 'fast');
      await m.forward(PROMPT, null);
      m.commit(PROMPT.map((_, i) => i));
      await assert.rejects(m.forward([1, 2, 3], [-1, 0, -1]), (err: HastenError) =>
        err.code === 'variant-missing' && err.message.includes('model_fast_tree.onnx') && err.fix.includes('npm run hasten -- build --from CHECKPOINT_DIR --out MODEL_DIR --variants standard,fast,tree'));
    } finally {
      await m.dispose();
    }
  });

  test('early exit on an export without layered graphs names the build that makes them', () => {
    const folder = openModelFolder(path.join(tmp, 'nopos'));
    assert.throws(() => layeredFiles(folder), (err: HastenError) => {
      assert.equal(err.code, 'variant-missing');
      assert.match(err.fix, /npm run hasten -- build --from .* --variants .*layered/);
      return true;
    });
  });
});
