// The export stage of the bundled causal models: each folder's HF checkpoint (model.safetensors,
// config.json, tokenizer) goes through Hasten's graph builder, and the built graphs and config.json
// replace the folder's onnx/. One export path for bundled and downloaded models alike.
//   npx tsx models/toolchain/graphs.ts [--dtype fp16] [NAME ...]
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { build } from '../../src/build/builder';
import { Variant } from '../../src/build/graphs';
import { Dtype } from '../../src/build/weights';

const MODELS = path.resolve(__dirname, '..');

/** What each bundled model needs: the target every variant, the drafts only chains. */
export const BUNDLED: Record<string, Variant[]> = {
  'hasten-target': ['standard', 'fast', 'tree', 'layered'],
  'hasten-draft-s': ['standard', 'fast'],
  'hasten-draft-m': ['standard', 'fast'],
};

/** Rebuilds the graphs of one bundled model in place. */
export async function buildBundled(name: string, dtype: Dtype): Promise<void> {
  const dir = path.join(MODELS, name);
  const out = path.join(MODELS, '.work', 'built', name);
  const s = await build({ from: dir, out, dtype, variants: BUNDLED[name]!, force: true });
  fs.rmSync(path.join(dir, 'onnx'), { recursive: true, force: true });
  fs.renameSync(path.join(out, 'onnx'), path.join(dir, 'onnx'));
  fs.copyFileSync(path.join(out, 'config.json'), path.join(dir, 'config.json'));
  fs.rmSync(out, { recursive: true, force: true });
  console.log(`${name}: ${s.graphs.length} graphs, ${(s.weightBytes / 1e6).toFixed(1)} MB of ${dtype} weights, ${s.seconds.toFixed(1)} s`);
}

if (require.main === module) {
  const { values, positionals } = parseArgs({ options: { dtype: { type: 'string', default: 'fp16' } }, allowPositionals: true });
  const names = positionals.length ? positionals : Object.keys(BUNDLED);
  (async () => {
    for (const n of names) {
      if (!BUNDLED[n]) throw new Error(`graphs: ${n} is not a bundled causal model (${Object.keys(BUNDLED).join(', ')})`);
      await buildBundled(n, values.dtype as Dtype);
    }
  })().catch((err: unknown) => {
    console.error(`graphs: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
