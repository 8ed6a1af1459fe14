// The export stage of the bundled causal models: each folder's HF checkpoint (model.safetensors,
// config.json, tokenizer) goes through Hasten's graph builder, and the built graphs and config.json
// replace the folder's onnx/. One export path for bundled and downloaded models alike.
//   npx tsx models/toolchain/graphs.ts [--dtype D (default: each model's, below)] [NAME ...]
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { build } from '../../src/build/builder';
import { Variant } from '../../src/build/graphs';
import { Dtype } from '../../src/build/weights';

const MODELS = path.resolve(__dirname, '..');

/**
 * What each bundled model ships: the target every variant, the drafts only chains, at fp16 weights
 * computed in fp32 (draft-m at int8, below). int8 (MatMulNBits, accuracy level 4) measured about twice as fast at
 * +0.01% held-out bits/byte (npm run bench -- --sections graphs), but it quantises activations too, so
 * graphs of different structure (the layered blocks that self-speculation and CALM run, the batched
 * standard graph) are no longer bit-identical to the fused one, and self-speculation would stop being
 * token-identical to plain decoding. fp16 storage keeps every graph within 1e-6 of the others.
 * The CPU runs the `cpu` graph (K/V rows out, buffers read in place); a GPU (WebGPU) runs `gpu`, the fp16
 * fast and tree graphs with fp16 K/V (`fast` and `tree` in fp32 are its fallback and the reference).
 * draft-m is the exception, at int8 (head included): a draft only proposes and the target verifies every
 * token, so its precision changes no output, only how often its guesses are accepted and what a guess
 * costs. Its step is mostly matmuls over its weights (the tied 8192 x 128 head is 59% of them), which
 * int8 makes cheaper, where the drafts' share of a speculative step is largest (npm run bench: "One decode
 * step" and the draft-model rows; models/README.md has the figures). draft-s stays fp16: its widths
 * (64, 176) are not multiples of the block size, and its step is bound by per-operator overhead.
 */
export const BUNDLED: Record<string, { variants: Variant[]; dtype: Dtype }> = {
  'hasten-target': { variants: ['standard', 'fast', 'tree', 'cpu', 'gpu', 'layered'], dtype: 'fp16' },
  'hasten-draft-s': { variants: ['standard', 'fast', 'cpu', 'gpu'], dtype: 'fp16' },
  'hasten-draft-m': { variants: ['standard', 'fast', 'cpu', 'gpu'], dtype: 'int8' },
};

/** Rebuilds the graphs of one bundled model in place. */
export async function buildBundled(name: string, dtype: Dtype = BUNDLED[name]!.dtype): Promise<void> {
  const dir = path.join(MODELS, name);
  const out = path.join(MODELS, '.work', 'built', name);
  const s = await build({ from: dir, out, dtype, variants: BUNDLED[name]!.variants, force: true });
  fs.rmSync(path.join(dir, 'onnx'), { recursive: true, force: true });
  fs.renameSync(path.join(out, 'onnx'), path.join(dir, 'onnx'));
  fs.copyFileSync(path.join(out, 'config.json'), path.join(dir, 'config.json'));
  fs.rmSync(out, { recursive: true, force: true });
  console.log(`${name}: ${s.graphs.length} graphs, ${(s.weightBytes / 1e6).toFixed(1)} MB of ${dtype} weights, ${s.seconds.toFixed(1)} s`);
}

if (require.main === module) {
  const { values, positionals } = parseArgs({ options: { dtype: { type: 'string' } }, allowPositionals: true });
  const names = positionals.length ? positionals : Object.keys(BUNDLED);
  (async () => {
    for (const n of names) {
      if (!BUNDLED[n]) throw new Error(`graphs: ${n} is not a bundled causal model (${Object.keys(BUNDLED).join(', ')})`);
      await buildBundled(n, (values.dtype as Dtype | undefined) ?? BUNDLED[n].dtype);
    }
  })().catch((err: unknown) => {
    console.error(`graphs: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
