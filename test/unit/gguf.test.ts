// The GGUF export for the llama.cpp benchmark peer: the file parses back with the right metadata,
// tensor layout and exactly the fp16 weights upcast; and, with node-llama-cpp installed, llama.cpp
// reproduces onnxruntime's next-token probabilities and our engine's greedy tokens. Under CI a
// missing peer is a failure, never a silent skip.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ALIGNMENT, ensureGguf, permuteRope, readGguf, type ParsedGguf } from '../../models/toolchain/gguf.mjs';
import { loadNodeLlamaCpp, openLlamaCpp, LLAMA_CPP_INSTALL } from '../../bench/peers/llamacpp';
import { llamaCppParity } from '../../bench/peers/llamacppParity';
import type { PeerSystem } from '../../bench/peers/types';
import { peerPrompt } from '../../bench/headline';
import { loadWorkloads } from '../../bench/workloads';
import { Engine } from '../../src/engine';
import { build } from '../../src/build/builder';

const models = path.resolve(__dirname, '..', '..', 'models');
const CAUSAL = ['hasten-target', 'hasten-draft-m', 'hasten-draft-s'];
/** Measured 5e-5 (llama.cpp's probabilities sum to 1 only within ~1e-5); a RoPE or layout bug gives > 0.1. */
const PROB_TOL = 5e-4;
/** int8 graph vs Q8_0: same weights, activations quantised differently (measured: see the test's # parity line). */
/** The retrained target (1.66 bits/byte, sharper distributions) measured 0.027 at one of 439 positions; session 8's
 * draft-m (63.5% at k = 4) 0.038 with 433 of 439 argmaxes agreeing; the session-15 target (1.116 bits/byte) 0.050 with
 * 437 of 439 and its draft-m 0.053 with 435. A RoPE or layout bug moves probabilities by far more (most of the mass
 * on another token) and breaks the 98% argmax agreement below. */
const Q8_PROB_TOL = 8e-2;

/** fp16 -> float32 by re-biasing the bits (independent of the writer's table). */
function half(h: number): number {
  const dv = new DataView(new ArrayBuffer(4));
  const sign = (h & 0x8000) << 16, exp = (h >> 10) & 0x1f, frac = h & 0x3ff;
  if (exp === 0) return (h & 0x8000 ? -1 : 1) * frac * 2 ** -24;
  dv.setUint32(0, sign | ((exp === 31 ? 255 : exp + 112) << 23) | (frac << 13));
  return dv.getFloat32(0);
}

/** A tensor of the checkpoint's model.safetensors (fp16, read with this test's own decoding), [rows, cols] = [out, in]. */
function checkpointWeight(dir: string, name: string): { data: Float32Array; rows: number; cols: number } {
  const buf = fs.readFileSync(path.join(dir, 'model.safetensors'));
  const n = Number(buf.readBigUInt64LE(0));
  const e = (JSON.parse(buf.toString('utf8', 8, 8 + n)) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>)[name]!;
  assert.equal(e.dtype, 'F16', `${name}: weights are fp16`);
  const at = 8 + n + e.data_offsets[0];
  const data = new Float32Array((e.data_offsets[1] - e.data_offsets[0]) / 2).map((_, i) => half(buf.readUInt16LE(at + 2 * i)));
  return { data, rows: e.shape[0]!, cols: e.shape[1] ?? 1 };
}

function tensorData(file: Buffer, g: ParsedGguf, name: string): { data: Float32Array; dims: number[] } {
  const info = g.tensors.find((t) => t.name === name);
  assert.ok(info, `tensor ${name} is in the file`);
  const n = info.dims.reduce((a, b) => a * b, 1);
  const start = g.dataStart + info.offset;
  return { data: new Float32Array(file.buffer.slice(file.byteOffset + start, file.byteOffset + start + 4 * n)), dims: info.dims };
}

describe('GGUF writer', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hasten-gguf-'));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  test('permuteRope turns rotate_half halves into interleaved pairs, per head', () => {
    // 2 heads of dim 4, one column: rows [h0: a0 a1 b0 b1, h1: ...] -> [a0 b0 a1 b1, ...]
    const w = Float32Array.from([0, 1, 2, 3, 10, 11, 12, 13]);
    assert.deepEqual([...permuteRope(w, 8, 1, 2)], [0, 2, 1, 3, 10, 12, 11, 13]);
  });

  for (const name of CAUSAL) {
    test(`${name}: parses back with config metadata, aligned F32 tensors and the exact fp16 weights`, () => {
      const dir = path.join(models, name);
      const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
      const first = ensureGguf(dir, tmp);
      assert.equal(first.converted, true);
      assert.equal(ensureGguf(dir, tmp).converted, false, 'unchanged sources reuse the cached file');
      const file = fs.readFileSync(first.path);
      const g = readGguf(file);
      const md = g.metadata;
      assert.equal(g.version, 3);
      assert.equal(md['general.architecture'], 'llama');
      const expect: Record<string, unknown> = {
        'llama.context_length': cfg.max_position_embeddings, 'llama.embedding_length': cfg.hidden_size, 'llama.block_count': cfg.num_hidden_layers,
        'llama.feed_forward_length': cfg.intermediate_size, 'llama.attention.head_count': cfg.num_attention_heads,
        'llama.attention.head_count_kv': cfg.num_key_value_heads, 'llama.rope.dimension_count': cfg.head_dim,
        'tokenizer.ggml.model': 'gpt2', 'tokenizer.ggml.eos_token_id': 0,
      };
      for (const [k, v] of Object.entries(expect)) assert.equal(md[k], v, k);
      for (const k of ['llama.context_length', 'llama.block_count', 'llama.attention.head_count']) assert.equal(g.types[k], 4, `${k} is uint32`);
      assert.equal(g.types['llama.attention.layer_norm_rms_epsilon'], 6, 'eps is float32');
      assert.equal(md['llama.attention.layer_norm_rms_epsilon'], Math.fround(cfg.rms_norm_eps));
      assert.equal(md['llama.rope.freq_base'], Math.fround(cfg.rope_theta));
      const tokens = md['tokenizer.ggml.tokens'] as string[], types = md['tokenizer.ggml.token_type'] as number[];
      assert.equal(tokens.length, cfg.vocab_size);
      assert.equal(tokens[0], '<|endoftext|>');
      assert.deepEqual(types.slice(0, 7), [3, 3, 3, 3, 3, 3, 1], 'special tokens are control tokens');
      assert.ok((md['tokenizer.ggml.merges'] as string[]).length > 1000 && (md['tokenizer.ggml.merges'] as string[])[0]!.includes(' '));

      const L = cfg.num_hidden_layers, d = cfg.hidden_size, kv = cfg.num_key_value_heads * cfg.head_dim;
      const names = ['token_embd.weight', 'output_norm.weight', 'output.weight',
        ...Array.from({ length: L }, (_, i) => ['attn_norm', 'attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_norm', 'ffn_gate', 'ffn_up', 'ffn_down'].map((t) => `blk.${i}.${t}.weight`)).flat()];
      assert.deepEqual(g.tensors.map((t) => t.name).sort(), names.sort());
      const dims = (n: string) => g.tensors.find((t) => t.name === n)!.dims;
      assert.deepEqual(dims('token_embd.weight'), [d, cfg.vocab_size]);
      assert.deepEqual(dims('blk.0.attn_q.weight'), [d, d]);
      assert.deepEqual(dims('blk.0.attn_k.weight'), [d, kv]);
      assert.deepEqual(dims('blk.0.ffn_down.weight'), [cfg.intermediate_size, d]);
      let end = 0;
      for (const t of [...g.tensors].sort((a, b) => a.offset - b.offset)) {
        assert.equal(t.type, 0, `${t.name} is F32`);
        assert.equal(t.offset % ALIGNMENT, 0, `${t.name} offset aligned`);
        assert.ok(t.offset >= end, `${t.name} does not overlap`);
        end = t.offset + 4 * t.dims.reduce((a, b) => a * b, 1);
      }
      assert.equal(g.dataStart % ALIGNMENT, 0);
      assert.ok(g.dataStart + end <= file.length);

      // v: as stored ([out, in]); q: rows permuted within each head.
      const v = checkpointWeight(dir, 'model.layers.0.self_attn.v_proj.weight');
      const gv = tensorData(file, g, 'blk.0.attn_v.weight').data; // [out, in]
      for (let i = 0; i < v.data.length; i++) assert.equal(gv[i], v.data[i]);
      const q = checkpointWeight(dir, `model.layers.${L - 1}.self_attn.q_proj.weight`);
      const gq = tensorData(file, g, `blk.${L - 1}.attn_q.weight`).data;
      const hd = cfg.head_dim;
      for (let r = 0; r < q.rows; r++) {
        const h = Math.floor(r / hd), k = r % hd, src = h * hd + (k % 2) * (hd / 2) + Math.floor(k / 2);
        for (let i = 0; i < q.cols; i++) assert.equal(gq[r * q.cols + i], q.data[src * q.cols + i]);
      }
      const emb = tensorData(file, g, 'token_embd.weight').data, out = tensorData(file, g, 'output.weight').data;
      const table = checkpointWeight(dir, 'model.embed_tokens.weight');
      for (let i = 0; i < emb.length; i += 97) assert.equal(emb[i], table.data[i]);
      assert.deepEqual(out, emb, 'the LM head is the tied embedding');
    });
  }
});

describe('llama.cpp peer on the same weights', async () => {
  const loaded = await loadNodeLlamaCpp();
  const missing = loaded.ok ? null : loaded.message;
  if (missing && process.env.CI) {
    test('node-llama-cpp is installed (required under CI)', () => assert.fail(`${missing}. scripts/setup.sh runs ${LLAMA_CPP_INSTALL}.`));
    return;
  }
  const skip = missing ? `${missing}` : false;
  let engine: Engine | undefined;
  // The F32 GGUF is compared with the builder's fp32 graphs of the same checkpoint (the shipped graphs store fp16 weights), Q8_0 with its int8 graphs.
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'hasten-gguf-fp32-'));
  const fp32 = (name: string) => path.join(work, name);
  before(async () => {
    if (skip) return;
    for (const name of ['hasten-target', 'hasten-draft-m']) await build({ from: path.join(models, name), out: fp32(name), dtype: 'fp32', variants: ['standard', 'fast'] });
    engine = await Engine.load({ modelDir: fp32('hasten-target'), draftDir: null, cmlmDir: null, runtime: { threads: 1 } });
  });
  after(async () => {
    await engine?.dispose();
    fs.rmSync(work, { recursive: true, force: true });
  });
  const items = () => loadWorkloads(undefined, 1); // one held-out prompt per workload kind

  for (const name of ['hasten-target', 'hasten-draft-m']) {
    test(`${name}: llama.cpp's next-token probabilities (F32 GGUF) equal onnxruntime's softmax (fp32 graph)`, { skip }, async () => {
      const ids = engine!.prompt(items()[0]!.prefix, items()[0]!.suffix, 32);
      const r = await llamaCppParity(path.join(models, name), ids, 1, { ortDir: fp32(name) });
      assert.ok(r.ok, r.ok ? '' : r.message);
      const { report } = r;
      console.log(`# parity ${JSON.stringify(report)}`);
      assert.ok(report.maxProbDiff < PROB_TOL, `max |p diff| ${report.maxProbDiff}`);
      assert.equal(report.argmaxAgree, report.positions);
    });

    test(`${name}: llama.cpp Q8_0 and our int8 build (the same quantised weights) agree`, { skip }, async () => {
      const ids = engine!.prompt(items()[0]!.prefix, items()[0]!.suffix, 32);
      const int8 = path.join(work, `${name}-int8`);
      if (!fs.existsSync(int8)) await build({ from: path.join(models, name), out: int8, dtype: 'int8', variants: ['standard'] });
      const r = await llamaCppParity(path.join(models, name), ids, 1, { quant: 'Q8_0', ortDir: int8 });
      assert.ok(r.ok, r.ok ? '' : r.message);
      const { report } = r;
      console.log(`# parity Q8_0 ${JSON.stringify(report)}`);
      // Both quantise activations to int8 per block of 32 as well, each its own way: not bit-exact, so
      // near-ties flip (the probabilities stay within Q8_PROB_TOL). 2% of positions: the second-generation
      // models, sharper and with more near-ties in repetitive code, flipped 4 and 7 of 439.
      assert.ok(report.maxProbDiff < Q8_PROB_TOL, `max |p diff| ${report.maxProbDiff}`);
      assert.ok(report.argmaxAgree >= Math.floor(report.positions * 0.98), `argmax agrees at ${report.argmaxAgree}/${report.positions}`);
    });
  }

  test('every llama.cpp system generates the same greedy tokens as our autoregressive engine', { skip }, async () => {
    // 48 new tokens after a prompt that fills the rest of the context: speculation must not shift it.
    const opened = await openLlamaCpp({ targetDir: path.join(models, 'hasten-target'), draftDir: path.join(models, 'hasten-draft-m'), threads: 1, contextSize: (JSON.parse(fs.readFileSync(path.join(models, 'hasten-target', 'config.json'), 'utf8')) as { max_position_embeddings: number }).max_position_embeddings });
    assert.ok(opened.ok, opened.ok ? '' : opened.message);
    assert.deepEqual(opened.systems.map((s) => s.id), ['llama.cpp/plain', 'llama.cpp/input-lookup', 'llama.cpp/draft-model']);
    try {
      for (const item of items()) {
        await engine!.reset();
        let ours: number[] = [];
        for await (const u of engine!.complete({ prefix: item.prefix, suffix: item.suffix, strategy: 'autoregressive', maxNewTokens: 48 })) if (u.done) ours = u.trace.output;
        for (const system of opened.systems as PeerSystem[]) {
          // Our first token comes from token healing, which the peer lacks: it continues after it.
          const { prompt, first } = await peerPrompt(engine!, item, 48);
          assert.equal(first, ours[0]);
          const theirs = await system.generate(prompt, 47, [0]);
          assert.equal(theirs.error, undefined);
          assert.deepEqual([first, ...theirs.output], ours, `${item.id}: ${system.id} and our engine disagree`);
        }
      }
    } finally {
      for (const s of opened.systems) await s.dispose();
    }
  });
});
