// Writes a bundled model as a Hugging Face checkpoint (config.json, model.safetensors with
// LlamaForCausalLM names, tokenizer files): the builder's input. Until the trainer writes
// safetensors itself, the weights come from the committed ONNX export, exact (fp16 values).
//   npx tsx models/toolchain/checkpoint.ts NAME [OUT]   (default OUT: models/.work/hf/NAME)
import fs from 'node:fs';
import path from 'node:path';
import { writeSafetensors } from '../../src/build/safetensors';
import { readDecoderWeights } from './onnx-weights.mjs';

const ROOT = path.resolve(__dirname, '..');

/** The HF checkpoint folder of a bundled model (written once, reused). */
export function bundledCheckpoint(name: string, out = path.join(ROOT, '.work', 'hf', name)): string {
  const src = path.join(ROOT, name);
  const onnx = path.join(src, 'onnx', 'model.onnx');
  const st = path.join(out, 'model.safetensors');
  if (fs.existsSync(st) && fs.statSync(st).mtimeMs >= fs.statSync(path.join(src, 'onnx', 'model.onnx_data')).mtimeMs) return out;
  const weights = readDecoderWeights(onnx);
  const cfg = JSON.parse(fs.readFileSync(path.join(src, 'config.json'), 'utf8')) as Record<string, unknown>;
  const tensors: { name: string; shape: number[]; data: Float32Array }[] = [];
  for (const [n, w] of [...weights].sort(([a], [b]) => a.localeCompare(b))) {
    if (n === 'lm_head.weight' && cfg.tie_word_embeddings === true) continue;
    if (/_proj\.weight$/.test(n)) {
      // ONNX MatMul weights are [in, out]; nn.Linear stores [out, in].
      const [k, m] = w.shape as [number, number];
      const t = new Float32Array(w.data.length);
      for (let i = 0; i < k; i++) for (let j = 0; j < m; j++) t[j * k + i] = w.data[i * m + j]!;
      tensors.push({ name: n, shape: [m, k], data: t });
    } else {
      tensors.push({ name: n, shape: w.shape, data: w.data });
    }
  }
  fs.mkdirSync(out, { recursive: true });
  const { hasten: _h, 'transformers.js_config': _t, ...hf } = cfg;
  fs.writeFileSync(path.join(out, 'config.json'), `${JSON.stringify({ ...hf, hasten: _h, torch_dtype: 'float16' }, null, 2)}\n`);
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'generation_config.json']) {
    if (fs.existsSync(path.join(src, f))) fs.copyFileSync(path.join(src, f), path.join(out, f));
  }
  writeSafetensors(st, tensors, 'F16', { format: 'pt' });
  return out;
}

if (require.main === module) {
  const [name, out] = process.argv.slice(2);
  if (!name) {
    console.error('usage: npx tsx models/toolchain/checkpoint.ts NAME [OUT]');
    process.exit(2);
  }
  console.log(bundledCheckpoint(name, out));
}
