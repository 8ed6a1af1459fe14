// The bundled causal models load in transformers.js, fully offline, from the standard hub layout
// (config.json, tokenizer files, onnx/model.onnx + model.onnx_data), and generate the same greedy
// tokens as torch did at export. This is the check that Hasten's folders match what real hub
// models look like, and that transformers.js can serve as a peer in the benchmark.
// A model shipped quantised (draft-m, int8: models/toolchain/graphs.ts) computes other logits than
// torch's fp32 ones, so its tokens are compared with onnxruntime-node's own greedy decoding of the
// same onnx/model.onnx instead (its fp32 build reproduces torch: models.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { env, AutoModelForCausalLM, Tensor } from '@huggingface/transformers';
import { argmax } from '../../src/engine/sampling';

const models = path.resolve(__dirname, '..', '..', 'models');

env.allowRemoteModels = false;
env.localModelPath = models + path.sep;
env.useFSCache = false;

/**
 * Greedy continuation of `prompt` by onnxruntime-node on a folder's standard graph, as a generate loop runs it: the
 * prompt in one pass, then one token a step with the previous step's present.* fed back as past_key_values. A
 * quantised graph's kernels round differently for one row than for many (MatMulNBits), so recomputing the whole
 * sequence every step would be another computation than transformers.js's, and near-ties could go either way.
 */
async function ortGreedy(dir: string, prompt: readonly number[], n: number): Promise<number[]> {
  const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  const s = await ort.InferenceSession.create(path.join(dir, 'onnx', 'model.onnx'));
  try {
    const i64 = (xs: number[]) => new ort.Tensor('int64', BigInt64Array.from(xs.map(BigInt)), [1, xs.length]);
    const empty = new ort.Tensor('float32', new Float32Array(0), [1, cfg.num_key_value_heads, 0, cfg.head_dim]);
    const past: Record<string, ort.Tensor> = {};
    for (let l = 0; l < cfg.num_hidden_layers; l++) {
      past[`past_key_values.${l}.key`] = empty;
      past[`past_key_values.${l}.value`] = empty;
    }
    const out: number[] = [];
    for (let step = 0; step < n; step++) {
      const fresh = step === 0 ? [...prompt] : [out[out.length - 1]!];
      const total = prompt.length + out.length;
      const seen = total - fresh.length;
      const feeds: Record<string, ort.Tensor> = {
        input_ids: i64(fresh),
        attention_mask: i64(Array.from({ length: total }, () => 1)),
        position_ids: i64(fresh.map((_, i) => seen + i)),
        ...past,
      };
      const result = await s.run(feeds);
      const logits = result.logits!;
      const V = logits.dims[2]!;
      const best = argmax((logits.data as Float32Array).subarray((fresh.length - 1) * V, fresh.length * V));
      for (let l = 0; l < cfg.num_hidden_layers; l++) {
        past[`past_key_values.${l}.key`] = result[`present.${l}.key`]!;
        past[`past_key_values.${l}.value`] = result[`present.${l}.value`]!;
      }
      out.push(best);
    }
    return out;
  } finally {
    await s.release();
  }
}

for (const name of ['hasten-target', 'hasten-draft-s', 'hasten-draft-m']) {
  const dir = path.join(models, name);
  const dtype = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')).hasten.build.dtype as string;
  const quantised = dtype.startsWith('int');
  test(`transformers.js generates ${quantised ? `onnxruntime-node's greedy tokens with the ${dtype}` : "torch's greedy tokens with"} ${name}`, async () => {
    const ref = JSON.parse(fs.readFileSync(path.join(dir, 'reference.json'), 'utf8')).greedy as { prompt: number[]; output: number[] };
    const want = quantised ? await ortGreedy(dir, ref.prompt, ref.output.length) : ref.output;
    const model = await AutoModelForCausalLM.from_pretrained(name, { dtype: 'fp32', local_files_only: true });
    try {
      const input = new Tensor('int64', BigInt64Array.from(ref.prompt.map(BigInt)), [1, ref.prompt.length]);
      const out = (await model.generate({ input_ids: input, max_new_tokens: want.length, do_sample: false })) as Tensor;
      const generated = Array.from(out.data as BigInt64Array, Number).slice(ref.prompt.length);
      assert.deepEqual(generated, want);
    } finally {
      await model.dispose();
    }
  });
}
