// The bundled models: files match the manifest, the tokenizer round-trips any text, and
// onnxruntime-node reproduces the reference outputs the exporter computed with torch, with the
// graphs Hasten's builder made from the committed checkpoint (rebuilt here byte for byte).
import { after, test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { Tokenizer } from '@huggingface/tokenizers';
import os from 'node:os';
import { build } from '../../src/build/builder';
import type { Variant } from '../../src/build/graphs';

const root = path.resolve(__dirname, '..', '..');
const models = path.join(root, 'models');
const TOL = 1e-4;

interface ManifestModel {
  path: string;
  kind: 'causal' | 'cmlm';
  files: Record<string, string>;
}
const manifest = JSON.parse(fs.readFileSync(path.join(models, 'manifest.json'), 'utf8')) as {
  models: Record<string, ManifestModel>;
};

function loadTokenizer(dir: string): Tokenizer {
  const read = (f: string) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
  return new Tokenizer(read('tokenizer.json'), read('tokenizer_config.json'));
}

/** Seeded PRNG, so a failing random case can be reproduced. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const i64 = (rows: number[][]) => new ort.Tensor('int64', BigInt64Array.from(rows.flat().map(BigInt)), [rows.length, rows[0]!.length]);
const f32 = (data: Float32Array, dims: number[]) => new ort.Tensor('float32', data, dims);
const MIN = -3.4028234663852886e38;

/** Compares strided logits [B][T][V/stride] and argmax [B][T] with a reference. */
function assertLogits(logits: ort.Tensor, ref: { strided: number[][][]; argmax: number[][] }, stride: number, what: string) {
  const [, t, v] = logits.dims as [number, number, number];
  const data = logits.data as Float32Array;
  let worst = 0;
  for (let i = 0; i < t; i++) {
    const row = data.subarray(i * v, (i + 1) * v);
    ref.strided[0]![i]!.forEach((want, j) => { worst = Math.max(worst, Math.abs(row[j * stride]! - want)); });
    let best = 0;
    for (let j = 1; j < v; j++) if (row[j]! > row[best]!) best = j;
    assert.equal(best, ref.argmax[0]![i], `${what}: argmax at position ${i}`);
  }
  assert.ok(worst < TOL, `${what}: max |logit - reference| = ${worst}`);
}

/** fp32 builds of the committed checkpoints (what torch computed the reference with), made once. */
const fp32Dirs = new Map<string, string>();
async function fp32Build(name: string): Promise<string> {
  const have = fp32Dirs.get(name);
  if (have) return have;
  const src = path.join(models, manifest.models[name]!.path);
  // The GPU's fp16 graphs have no fp32 form: the fp32 reference build is of every other variant.
  const variants = (JSON.parse(fs.readFileSync(path.join(src, 'config.json'), 'utf8')).hasten.build.variants as Variant[]).filter((v) => v !== 'gpu');
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'hasten-fp32-')), name);
  await build({ from: src, out, dtype: 'fp32', variants });
  fp32Dirs.set(name, out);
  return out;
}
after(() => {
  for (const d of fp32Dirs.values()) fs.rmSync(path.dirname(d), { recursive: true, force: true });
});

describe('bundled models', () => {
  for (const [name, m] of Object.entries(manifest.models)) {
    test(`${name}: every file listed in the manifest exists with its sha256`, () => {
      for (const [file, sha] of Object.entries(m.files)) {
        const buf = fs.readFileSync(path.join(models, m.path, file));
        assert.equal(createHash('sha256').update(buf).digest('hex'), sha, `${m.path}/${file}`);
      }
    });
  }

  test('the tokenizer round-trips code, unicode, control characters and random text exactly', () => {
    const tk = loadTokenizer(path.join(models, 'hasten-target'));
    const samples = [
      'def f(x):\r\n\treturn x  # café ☕\n', '\ufeffconst a = `${b}`;\u0000\u0007', '日本語のコメント 🎉🎉', '   \n\n\t\t  ',
      '__proto__ constructor toString hasOwnProperty', '<|fim_prefix|>a<|fim_suffix|>b<|fim_middle|>c<|endoftext|>', "it's 'quoted' \"twice\"",
    ];
    for (const f of ['models/toolchain/model.py', 'models/toolchain/tokenizer.mjs', 'test/unit/models.test.ts']) {
      samples.push(fs.readFileSync(path.join(root, f), 'utf8'));
    }
    const rand = rng(42);
    const alphabet = [...'abcXYZ_019 \t\n\r{}()[];:.,\'"`\\/<>=+-*&|!?$#@%^~', 'é', 'ß', '中', '🙂', '\u0301', '\u200b', '\u0000'];
    for (let n = 0; n < 200; n++) {
      let s = '';
      const len = 1 + Math.floor(rand() * 60);
      for (let i = 0; i < len; i++) s += alphabet[Math.floor(rand() * alphabet.length)];
      samples.push(s);
    }
    for (const s of samples) {
      const ids = tk.encode(s).ids;
      assert.equal(tk.decode(ids, { skip_special_tokens: false }), s, `round trip of ${JSON.stringify(s.slice(0, 40))}`);
    }
  });

  test('all models share one tokenizer', () => {
    const files = Object.values(manifest.models).map((m) => fs.readFileSync(path.join(models, m.path, 'tokenizer.json'), 'utf8'));
    assert.ok(files.every((f) => f === files[0]));
  });

  for (const [name, m] of Object.entries(manifest.models)) {
    if (m.kind !== 'causal') continue;
    test(`${name}: the builder's fp32 standard graph reproduces the torch reference (prefill, then decode with past)`, async () => {
      const dir = await fp32Build(name);
      const ref = JSON.parse(fs.readFileSync(path.join(models, m.path, 'reference.json'), 'utf8'));
      const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
      const s = await ort.InferenceSession.create(path.join(dir, 'onnx', 'model.onnx'));
      try {
        const L = cfg.num_hidden_layers as number;
        const kvDims = (p: number) => [1, cfg.num_key_value_heads, p, cfg.head_dim];
        const feeds: Record<string, ort.Tensor> = {};
        const prompt: number[] = ref.prompt[0];
        feeds.input_ids = i64(ref.prompt);
        feeds.attention_mask = i64([prompt.map(() => 1)]);
        feeds.position_ids = i64([prompt.map((_, i) => i)]);
        for (let i = 0; i < L; i++) {
          feeds[`past_key_values.${i}.key`] = f32(new Float32Array(0), kvDims(0));
          feeds[`past_key_values.${i}.value`] = f32(new Float32Array(0), kvDims(0));
        }
        const out1 = await s.run(feeds);
        assertLogits(out1.logits!, ref.prefill, ref.stride, 'prefill');
        const next: number[] = ref.next[0];
        const feeds2: Record<string, ort.Tensor> = {
          input_ids: i64(ref.next),
          attention_mask: i64([[...prompt, ...next].map(() => 1)]),
          position_ids: i64([next.map((_, i) => prompt.length + i)]),
        };
        for (let i = 0; i < L; i++) {
          feeds2[`past_key_values.${i}.key`] = out1[`present.${i}.key`]!;
          feeds2[`past_key_values.${i}.value`] = out1[`present.${i}.value`]!;
        }
        const out2 = await s.run(feeds2);
        assertLogits(out2.logits!, ref.decode, ref.stride, 'decode');
      } finally {
        await s.release();
      }
    });

    test(`${name}: the committed graphs are exactly what the graph builder makes from the committed checkpoint`, async () => {
      const dir = path.join(models, m.path);
      const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
      const out = fs.mkdtempSync(path.join(os.tmpdir(), 'hasten-rebuild-'));
      try {
        const b = cfg.hasten.build;
        await build({ from: dir, out: path.join(out, 'm'), dtype: b.dtype, variants: b.variants, contextLength: b.contextLength });
        const built = fs.readdirSync(path.join(out, 'm', 'onnx')).sort();
        assert.deepEqual(built, fs.readdirSync(path.join(dir, 'onnx')).sort());
        for (const f of built) assert.ok(fs.readFileSync(path.join(out, 'm', 'onnx', f)).equals(fs.readFileSync(path.join(dir, 'onnx', f))), `onnx/${f} differs from a fresh build`);
      } finally {
        fs.rmSync(out, { recursive: true, force: true });
      }
    });
  }

  test('target: the builder\'s fp32 fast, tree and layered graphs reproduce the reference', async () => {
    const dir = await fp32Build('hasten-target');
    const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
    const ref = JSON.parse(fs.readFileSync(path.join(models, 'hasten-target', 'reference.json'), 'utf8'));
    const L = cfg.num_hidden_layers as number;
    const prompt: number[] = ref.prompt[0];
    const P = prompt.length;
    const kvDims = (p: number) => [1, cfg.num_key_value_heads, p, cfg.head_dim];
    const causal = new Float32Array(P * P).map((_, k) => (k % P <= Math.floor(k / P) ? 0 : MIN));
    const sessions: ort.InferenceSession[] = [];
    const open = async (f: string) => { const s = await ort.InferenceSession.create(path.join(dir, 'onnx', f)); sessions.push(s); return s; };
    try {
      // Layered: embed -> blocks -> head after every layer equals the exit-layer reference.
      const embed = await open('layered_embed.onnx');
      const head = await open('layered_head.onnx');
      let h = (await embed.run({ input_ids: i64(ref.prompt) })).hidden_states!;
      for (let i = 0; i < L; i++) {
        const block = await open(`layered_block_${i}.onnx`);
        const out = await block.run({
          hidden_states: h, attention_mask: f32(causal, [1, 1, P, P]), position_ids: i64([prompt.map((_, j) => j)]),
          past_key: f32(new Float32Array(0), kvDims(0)), past_value: f32(new Float32Array(0), kvDims(0)),
        });
        h = out.hidden_states_out!;
        assertLogits((await head.run({ hidden_states: h })).logits!, ref.exits[i], ref.stride, `exit after layer ${i + 1}`);
      }
      // Tree: one pass of the fast tree graph over a 4-node tree after the prompt, on an in-place cache.
      const tree = await open('model_fast_tree.onnx');
      const fast = await open('model_fast.onnx');
      const slots = cfg.hasten.build.kvSlots as number;
      const kv = Array.from({ length: 2 * L }, () => f32(new Float32Array(cfg.num_key_value_heads * slots * cfg.head_dim), [1, cfg.num_key_value_heads, slots, cfg.head_dim]));
      const runFast = async (s: ort.InferenceSession, ids: number[][], past: number, extra: Record<string, ort.Tensor> = {}) => {
        const T = ids[0]!.length;
        const feeds: Record<string, ort.Tensor> = {
          input_ids: i64(ids), seqlens_k: new ort.Tensor('int32', Int32Array.of(past + T - 1), [1]),
          total_sequence_length: new ort.Tensor('int32', Int32Array.of(past + T), []), logits_to_keep: new ort.Tensor('int64', BigInt64Array.of(BigInt(T)), []), ...extra,
        };
        const fetches: Record<string, ort.Tensor | null> = { logits: null };
        for (let i = 0; i < L; i++) {
          feeds[`past_key_values.${i}.key`] = fetches[`present.${i}.key`] = kv[2 * i]!;
          feeds[`past_key_values.${i}.value`] = fetches[`present.${i}.value`] = kv[2 * i + 1]!;
        }
        return (await s.run(feeds, fetches as unknown as ort.InferenceSession.FetchesType)).logits!;
      };
      assertLogits(await runFast(fast, ref.prompt, 0), ref.prefill, ref.stride, 'fast prefill');
      const parents: number[] = ref.tree.parents;
      const n = parents.length;
      const bias = new Float32Array(n * (P + n)).fill(MIN);
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < P; j++) bias[i * (P + n) + j] = 0;
        for (let j = i; j !== -1; j = parents[j]!) bias[i * (P + n) + P + j] = 0;
      }
      assertLogits(await runFast(tree, ref.tree.ids, P, { position_ids: i64(ref.tree.positions), attention_bias: f32(bias, [1, 1, n, P + n]) }), ref.tree, ref.stride, 'tree');
    } finally {
      await Promise.all(sessions.map((s) => s.release()));
    }
  });

  test('cmlm: onnxruntime reproduces token and length logits', async () => {
    const dir = path.join(models, 'hasten-cmlm');
    const ref = JSON.parse(fs.readFileSync(path.join(dir, 'reference.json'), 'utf8'));
    const ids: number[] = ref.ids[0];
    const T = ids.length;
    const C: number = ref.context;
    const bias = new Float32Array(T * T).map((_, k) => (Math.floor(k / T) >= C || k % T < C ? 0 : MIN));
    const s = await ort.InferenceSession.create(path.join(dir, 'onnx', 'model.onnx'));
    try {
      const out = await s.run({ input_ids: i64(ref.ids), attention_mask: f32(bias, [1, 1, T, T]), position_ids: i64([ids.map((_, i) => i)]) });
      assertLogits(out.logits!, ref, ref.stride, 'cmlm');
      const len = out.length_logits!;
      const width = len.dims[2]!;
      const row = (len.data as Float32Array).subarray((C - 1) * width, C * width);
      (ref.length_logits as number[]).forEach((want, j) => assert.ok(Math.abs(row[j]! - want) < TOL, `length logit ${j}`));
    } finally {
      await s.release();
    }
  });
});
