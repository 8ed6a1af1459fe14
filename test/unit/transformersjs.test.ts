// The bundled causal models load in transformers.js, fully offline, from the standard hub layout
// (config.json, tokenizer files, onnx/model.onnx + model.onnx_data), and generate the same greedy
// tokens as torch did at export. This is the check that Hasten's folders match what real hub
// models look like, and that transformers.js can serve as a peer in the benchmark.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { env, AutoModelForCausalLM, Tensor } from '@huggingface/transformers';

const models = path.resolve(__dirname, '..', '..', 'models');

env.allowRemoteModels = false;
env.localModelPath = models + path.sep;
env.useFSCache = false;

for (const name of ['hasten-target', 'hasten-draft-s', 'hasten-draft-m']) {
  test(`transformers.js generates torch's greedy tokens with ${name}`, async () => {
    const ref = JSON.parse(fs.readFileSync(path.join(models, name, 'reference.json'), 'utf8')).greedy as { prompt: number[]; output: number[] };
    const model = await AutoModelForCausalLM.from_pretrained(name, { dtype: 'fp32', local_files_only: true });
    try {
      const input = new Tensor('int64', BigInt64Array.from(ref.prompt.map(BigInt)), [1, ref.prompt.length]);
      const out = (await model.generate({ input_ids: input, max_new_tokens: ref.output.length, do_sample: false })) as Tensor;
      const generated = Array.from(out.data as BigInt64Array, Number).slice(ref.prompt.length);
      assert.deepEqual(generated, ref.output);
    } finally {
      await model.dispose();
    }
  });
}
