// The graph builder: tiny random llama / qwen2 / mistral checkpoints (every option: biases, tied and
// untied heads, linear and llama3 rope scaling, GQA, shards, fp32/fp16/bf16) built and compared
// with an independent plain forward pass; quantised builds; and every kind of bad input.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { CheckpointShape, writeRandomCheckpoint } from '../../bench/checkpoints';
import { build } from '../../src/build/builder';
import { Checkpoint, writeSafetensors } from '../../src/build/safetensors';
import { quantise } from '../../src/build/weights';
import { CausalModel } from '../../src/engine/model/causal';
import { openModelFolder } from '../../src/engine/model/folder';
import { referenceLogits, refConfig } from './helpers/llamaReference';

const ROOT = path.resolve(__dirname, '..', '..');
const TOKENIZER = path.join(ROOT, 'models', 'hasten-target');
const TINY = { hidden: 64, layers: 2, heads: 4, kvHeads: 2, headDim: 16, intermediate: 128, vocab: 8192 };
const IDS = [11, 40, 41, 42, 100, 200, 300, 17, 19];

let tmp: string;
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hasten-build-'));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const i64 = (a: number[]) => new ort.Tensor('int64', BigInt64Array.from(a.map(BigInt)), [1, a.length]);
const opts = { logSeverityLevel: 3 as const };

function maxDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function tensorsOf(dir: string): Map<string, { shape: number[]; data: Float32Array }> {
  const ck = Checkpoint.open(dir);
  return new Map(ck.names.map((n) => [n, { shape: ck.info(n).shape, data: ck.read(n) }]));
}

/** The rows the engine computes on the CPU (the CPU graph, its buffers written by inplace.ts): a prefill, then one token at a time. */
async function engineLogits(out: string, ids: number[]): Promise<Float32Array[]> {
  const m = await CausalModel.open(openModelFolder(out), { provider: 'cpu', threads: 1, shared: true }, false);
  try {
    const rows: Float32Array[] = [];
    for (const block of [ids.slice(0, ids.length - 3), ...ids.slice(ids.length - 3).map((x) => [x])]) {
      const lg = await m.forward(block, null);
      m.commit(block.map((_, i) => i));
      for (let i = 0; i < block.length; i++) rows.push(lg.row(i).slice());
    }
    return rows;
  } finally {
    await m.dispose();
  }
}

/** Logits of the fast graph: prefill of all but the last 3 ids, then 3 single steps. */
async function fastLogits(out: string, ids: number[], cfg: { layers: number; kvHeads: number; headDim: number }, vocab: number): Promise<Float32Array[]> {
  const s = await ort.InferenceSession.create(path.join(out, 'onnx', 'model_fast.onnx'), opts);
  try {
    const slots = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')).hasten.build.kvSlots as number;
    const kv = Array.from({ length: 2 * cfg.layers }, () => new ort.Tensor('float32', new Float32Array(cfg.kvHeads * slots * cfg.headDim), [1, cfg.kvHeads, slots, cfg.headDim]));
    const rows: Float32Array[] = [];
    let past = 0;
    const blocks = [ids.slice(0, ids.length - 3), ...ids.slice(ids.length - 3).map((x) => [x])];
    for (const block of blocks) {
      const feeds: Record<string, ort.Tensor> = {
        input_ids: i64(block),
        seqlens_k: new ort.Tensor('int32', Int32Array.of(past + block.length - 1), [1]),
        total_sequence_length: new ort.Tensor('int32', Int32Array.of(past + block.length), []),
        logits_to_keep: new ort.Tensor('int64', BigInt64Array.of(BigInt(block.length)), []),
      };
      const fetches: Record<string, ort.Tensor | null> = { logits: null };
      for (let l = 0; l < cfg.layers; l++) {
        for (const [j, w] of ['key', 'value'].entries()) {
          feeds[`past_key_values.${l}.${w}`] = kv[2 * l + j]!;
          fetches[`present.${l}.${w}`] = kv[2 * l + j]!;
        }
      }
      const o = await s.run(feeds, fetches as unknown as ort.InferenceSession.FetchesType);
      const data = o.logits!.data as Float32Array;
      for (let i = 0; i < block.length; i++) rows.push(data.slice(i * vocab, (i + 1) * vocab));
      past += block.length;
    }
    return rows;
  } finally {
    await s.release();
  }
}

async function standardLogits(out: string, ids: number[], cfg: { layers: number; kvHeads: number; headDim: number }, vocab: number): Promise<Float32Array[]> {
  const s = await ort.InferenceSession.create(path.join(out, 'onnx', 'model.onnx'), opts);
  try {
    const feeds: Record<string, ort.Tensor> = { input_ids: i64(ids), attention_mask: i64(ids.map(() => 1)), position_ids: i64(ids.map((_, i) => i)) };
    for (let l = 0; l < cfg.layers; l++) {
      for (const w of ['key', 'value']) feeds[`past_key_values.${l}.${w}`] = new ort.Tensor('float32', new Float32Array(0), [1, cfg.kvHeads, 0, cfg.headDim]);
    }
    const data = (await s.run(feeds)).logits!.data as Float32Array;
    return ids.map((_, i) => data.slice(i * vocab, (i + 1) * vocab));
  } finally {
    await s.release();
  }
}

const CASES: { name: string; shape: CheckpointShape; dtype: 'F32' | 'F16' | 'BF16'; shards: number }[] = [
  { name: 'qwen2, tied, q/k/v biases, fp16 weights', shape: { family: 'qwen2', ...TINY, tied: true, ropeTheta: 1e6, rmsEps: 1e-6 }, dtype: 'F16', shards: 1 },
  { name: 'llama, untied, attention_bias, linear rope scaling, 3 shards', shape: { family: 'llama', ...TINY, tied: false, attentionBias: true, ropeScaling: { type: 'linear', factor: 4 } }, dtype: 'F32', shards: 3 },
  { name: 'llama 3, llama3 rope scaling, 4 query heads per KV head, bf16', shape: { family: 'llama', ...TINY, kvHeads: 1, tied: false, ropeTheta: 500000, ropeScaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 16 } }, dtype: 'BF16', shards: 1 },
  { name: 'mistral (as llama)', shape: { family: 'mistral', ...TINY, tied: false }, dtype: 'F32', shards: 2 },
];

describe('graph builder: tiny checkpoints against an independent forward pass', () => {
  CASES.forEach((c, k) => {
    test(c.name, async () => {
      const src = writeRandomCheckpoint(path.join(tmp, `ck${k}`), c.shape, { seed: 100 + k, tokenizerDir: TOKENIZER, dtype: c.dtype, shards: c.shards });
      const out = path.join(tmp, `built${k}`);
      const summary = await build({ from: src, out });
      assert.equal(summary.arch.family, c.shape.family);
      const want = referenceLogits(tensorsOf(src), refConfig(JSON.parse(fs.readFileSync(path.join(src, 'config.json'), 'utf8'))), IDS);
      const fast = await fastLogits(out, IDS, c.shape, c.shape.vocab);
      const std = await standardLogits(out, IDS, c.shape, c.shape.vocab);
      const cpu = await engineLogits(out, IDS);
      IDS.forEach((_, i) => {
        assert.ok(maxDiff(fast[i]!, want[i]!) < 1e-4, `fast graph, position ${i}: ${maxDiff(fast[i]!, want[i]!)}`);
        assert.ok(maxDiff(cpu[i]!, want[i]!) < 1e-4, `CPU graph through the engine, position ${i}: ${maxDiff(cpu[i]!, want[i]!)}`);
        assert.ok(maxDiff(std[i]!, want[i]!) < 1e-4, `standard graph, position ${i}: ${maxDiff(std[i]!, want[i]!)}`);
      });
    });
  });
});

describe('graph builder: the engine on a built folder', () => {
  test('in-place cache: tree verify + commit of a branch, rollback and prefix reuse equal the standard graph on the explicit sequence', async () => {
    const src = writeRandomCheckpoint(path.join(tmp, 'eng'), { family: 'qwen2', ...TINY, tied: true }, { seed: 7, tokenizerDir: TOKENIZER });
    const out = path.join(tmp, 'eng-built');
    await build({ from: src, out });
    const folder = openModelFolder(out);
    const rt = { provider: 'cpu' as const, threads: 1, shared: true };
    const fast = await CausalModel.open(folder, rt, true);
    const std = await CausalModel.open(folder, rt, false, { fast: false });
    try {
      assert.equal(fast.graph, 'fast');
      assert.equal(fast.nativeTree, true);
      assert.equal(std.graph, 'standard');
      const row = async (m: CausalModel, seq: number[]) => {
        m.reset();
        const lg = await m.forward(seq, null);
        m.commit(seq.map((_, i) => i));
        return lg.row(seq.length - 1).slice();
      };
      // Prefill, then a tree: 0 <- root, 1 <- root, 2 <- 1, 3 <- 2; keep the branch 1, 2 and check the next step.
      await fast.forward(IDS.slice(0, 5), null);
      fast.commit([0, 1, 2, 3, 4]);
      const tree = [500, 600, 700, 800];
      const lg = await fast.forward(tree, [-1, -1, 1, 2]);
      assert.ok(maxDiff(lg.row(0), await row(std, [...IDS.slice(0, 5), 500])) < 1e-4, 'tree node 0');
      assert.ok(maxDiff(lg.row(3), await row(std, [...IDS.slice(0, 5), 600, 700, 800])) < 1e-4, 'tree node 3');
      fast.commit([1, 2]);
      assert.deepEqual([...fast.tokens], [...IDS.slice(0, 5), 600, 700]);
      const next = await fast.forward([900], null);
      assert.ok(maxDiff(next.row(0), await row(std, [...IDS.slice(0, 5), 600, 700, 900])) < 1e-4, 'after the committed branch');
      fast.commit([]);
      // Prefix reuse: keep 6 tokens, then continue differently.
      assert.equal(fast.retain([...IDS.slice(0, 5), 600, 42]), 6);
      const again = await fast.forward([42, 43], null);
      assert.ok(maxDiff(again.row(1), await row(std, [...IDS.slice(0, 5), 600, 42, 43])) < 1e-4, 'after retain');
      fast.commit([0, 1]);
      // Past the first allocation (256 slots): the buffers double, keeping what they hold.
      const long = Array.from({ length: 300 }, (_, i) => 1000 + ((i * 37) % 5000));
      const grown = await fast.forward(long, null, undefined, { lastOnly: true });
      assert.ok(maxDiff(grown.row(299), await row(std, [...IDS.slice(0, 5), 600, 42, 43, ...long])) < 1e-4, 'after the cache grew');
      assert.throws(() => grown.row(0), /not computed/);
    } finally {
      await fast.dispose();
      await std.dispose();
    }
  });
});

describe('graph builder: quantised builds', () => {
  test('quantise: int4 / int8 codes in range, dequantised error within half a step (one at the clamped Q4_0 extreme)', () => {
    const w = Float32Array.from({ length: 4 * 64 }, (_, i) => Math.sin(i * 1.7) * (1 + (i % 7)));
    for (const bits of [4, 8] as const) {
      const q = quantise(w, 4, 64, bits);
      const blob = (32 * bits) / 8;
      for (let r = 0; r < 4; r++) {
        for (let b = 0; b < 2; b++) {
          const d = q.scales[r * 2 + b]!;
          for (let j = 0; j < 32; j++) {
            const byte = q.packed[(r * 2 + b) * blob + (bits === 4 ? j >> 1 : j)]!;
            const code = bits === 4 ? (j & 1 ? byte >> 4 : byte & 15) : byte;
            const deq = (code - (bits === 4 ? 8 : 128)) * d;
            // The step is rounded to fp16 after the codes are chosen (as llama.cpp does): up to 2^-11 of it per code unit.
            // Q4_0 maps the signed extreme to -8, so the opposite extreme (+8) clamps to 7: up to one step there.
            assert.ok(Math.abs(deq - w[r * 64 + b * 32 + j]!) <= Math.abs(d) * (bits === 4 ? 1 : 0.5) + 128 * Math.abs(d) * 2 ** -11 + 1e-6, `bits ${bits} row ${r} block ${b} j ${j}`);
          }
        }
      }
    }
  });

  test('int8 and int4 graphs stay close to fp32 (cosine of logits), with the LM head quantised too', async () => {
    const src = writeRandomCheckpoint(path.join(tmp, 'q'), { family: 'llama', ...TINY, tied: true }, { seed: 9, tokenizerDir: TOKENIZER });
    const ref = await fastLogits((await build({ from: src, out: path.join(tmp, 'q32'), variants: ['fast'] })).out, IDS, TINY, TINY.vocab);
    for (const [dtype, min] of [['int8', 0.999], ['int4', 0.93], ['fp16', 0.99999]] as const) {
      const b = await build({ from: src, out: path.join(tmp, `q-${dtype}`), variants: ['fast'], dtype });
      const got = await fastLogits(b.out, IDS, TINY, TINY.vocab);
      got.forEach((row, i) => {
        let dot = 0, na = 0, nb = 0;
        row.forEach((v, j) => { dot += v * ref[i]![j]!; na += v * v; nb += ref[i]![j]! ** 2; });
        assert.ok(dot / Math.sqrt(na * nb) > min, `${dtype} position ${i}: cosine ${dot / Math.sqrt(na * nb)}`);
      });
      const cfg = JSON.parse(fs.readFileSync(path.join(b.out, 'config.json'), 'utf8'));
      assert.equal(cfg.hasten.build.dtype, dtype);
    }
  });
});

describe('graph builder: bad input is a clear error and leaves nothing behind', () => {
  let good: string;
  before(() => {
    good = writeRandomCheckpoint(path.join(tmp, 'good'), { family: 'llama', ...TINY, layers: 1, tied: true }, { seed: 3, tokenizerDir: TOKENIZER, shards: 2 });
  });
  const variant = (name: string, mutate: (dir: string) => void): string => {
    const dir = path.join(tmp, `bad-${name}`);
    fs.cpSync(good, dir, { recursive: true });
    mutate(dir);
    return dir;
  };
  const expectError = async (from: string, pattern: RegExp) => {
    const out = path.join(tmp, `out-${path.basename(from)}`);
    await assert.rejects(build({ from, out }), (err: Error) => {
      assert.match(err.message, pattern);
      return true;
    });
    assert.ok(!fs.existsSync(out), 'no output folder');
    assert.deepEqual(fs.readdirSync(tmp).filter((f) => f.startsWith(`out-${path.basename(from)}.building`)), [], 'no temporary folder');
  };
  const shard = (dir: string) => path.join(dir, 'model-00002-of-00002.safetensors');

  test('an unsupported architecture names it and the supported list', async () => {
    await expectError(variant('arch', (d) => {
      const c = JSON.parse(fs.readFileSync(path.join(d, 'config.json'), 'utf8'));
      fs.writeFileSync(path.join(d, 'config.json'), JSON.stringify({ ...c, model_type: 'gpt2' }));
    }), /model_type "gpt2" is not supported; the builder supports llama, qwen2, mistral/);
  });
  test('a missing shard names the shard', async () => {
    await expectError(variant('shard', (d) => fs.rmSync(shard(d))), /model-00002-of-00002\.safetensors is missing/);
  });
  test('a truncated safetensors file names the file and the tensor', async () => {
    await expectError(variant('trunc', (d) => fs.truncateSync(shard(d), fs.statSync(shard(d)).size - 100)), /model-00002-of-00002\.safetensors: tensor .* ends at byte \d+ but the file has \d+: truncated/);
  });
  test('a header that lies about a size names the tensor', async () => {
    await expectError(variant('lie', (d) => {
      const f = shard(d);
      const buf = fs.readFileSync(f);
      const n = Number(buf.readBigUInt64LE(0));
      const header = JSON.parse(buf.toString('utf8', 8, 8 + n)) as Record<string, { shape: number[] }>;
      const name = Object.keys(header).find((k) => k !== '__metadata__')!;
      header[name]!.shape = [header[name]!.shape[0]! * 2, ...header[name]!.shape.slice(1)];
      let json = Buffer.from(JSON.stringify(header));
      json = Buffer.concat([json, Buffer.alloc(Math.max(0, n - json.length), 0x20)]);
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(json.length));
      fs.writeFileSync(f, Buffer.concat([len, json, buf.subarray(8 + n)]));
    }), /header lies about the tensor size|needs \d+ bytes but its offsets span/);
  });
  test('a header of absurd length is refused before reading it', async () => {
    await expectError(variant('huge', (d) => {
      const fd = fs.openSync(shard(d), 'r+');
      const b = Buffer.alloc(8);
      b.writeBigUInt64LE(2n ** 62n);
      fs.writeSync(fd, b, 0, 8, 0);
      fs.closeSync(fd);
    }), /header claims \d+ bytes/);
  });
  test('a tensor of the wrong shape names the tensor and the expected shape', async () => {
    await expectError(variant('shape', (d) => {
      const c = JSON.parse(fs.readFileSync(path.join(d, 'config.json'), 'utf8'));
      fs.writeFileSync(path.join(d, 'config.json'), JSON.stringify({ ...c, intermediate_size: 96 }));
    }), /tensor model\.layers\.0\.mlp\.(gate|up|down)_proj\.weight has shape \[.*\], but config\.json implies/);
  });
  test('an unknown dtype names it', async () => {
    await expectError(variant('dtype', (d) => {
      fs.rmSync(path.join(d, 'model.safetensors.index.json'));
      for (const f of fs.readdirSync(d).filter((x) => x.endsWith('.safetensors'))) fs.rmSync(path.join(d, f));
      writeSafetensors(path.join(d, 'model.safetensors'), [{ name: 'model.embed_tokens.weight', shape: [2], data: Float32Array.of(1, 2) }], 'F32');
      const f = path.join(d, 'model.safetensors');
      fs.writeFileSync(f, fs.readFileSync(f).toString('latin1').replace('"F32"', '"I32"'), 'latin1');
    }), /dtype "I32"; the builder reads F32, F16 and BF16/);
  });
  test('a cancelled build leaves nothing behind', async () => {
    const ac = new AbortController();
    ac.abort();
    const out = path.join(tmp, 'cancelled');
    await assert.rejects(build({ from: good, out, signal: ac.signal }), { name: 'AbortError' });
    assert.ok(!fs.existsSync(out));
    assert.deepEqual(fs.readdirSync(tmp).filter((f) => f.startsWith('cancelled.')), []);
  });
  test('an existing output folder is kept unless forced', async () => {
    const out = path.join(tmp, 'exists');
    fs.mkdirSync(out);
    fs.writeFileSync(path.join(out, 'keep'), 'x');
    await assert.rejects(build({ from: good, out }), /already exists/);
    assert.ok(fs.existsSync(path.join(out, 'keep')));
    await build({ from: good, out, force: true, variants: ['fast'] });
    assert.ok(!fs.existsSync(path.join(out, 'keep')) && fs.existsSync(path.join(out, 'onnx', 'model_fast.onnx')));
  });
});
