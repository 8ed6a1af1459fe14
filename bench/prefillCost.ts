// Cold prefill cost against prompt length on one model folder: the measurement behind the default
// context per provider (`autoContext` in src/engine/model/context.ts). Lengths are interleaved and
// repeated, so machine drift hits each alike; prints ms per prompt and per token, and writes JSON.
//   npx tsx bench/prefillCost.ts [--model models/.work/standin/qwen2-24x896-int4] [--threads 2]
//     [--lengths 256,512,1024,1984] [--repeats 3] [--out prefill.json]
// The default model is the 0.5B stand-in (Qwen2.5-Coder-0.5B's shape, int4) that
// `npm run bench -- --sections standin` builds.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { CausalModel } from '../src/engine/model/causal';
import { openModelFolder } from '../src/engine/model/folder';

const ROOT = path.resolve(__dirname, '..');

async function main(): Promise<void> {
  const { values: v } = parseArgs({
    options: {
      model: { type: 'string', default: path.join(ROOT, 'models', '.work', 'standin', 'qwen2-24x896-int4') }, threads: { type: 'string', default: '2' },
      lengths: { type: 'string', default: '256,512,1024,1984' }, repeats: { type: 'string', default: '3' }, out: { type: 'string' },
    },
  });
  if (!fs.existsSync(path.join(v.model!, 'config.json'))) {
    throw new Error(`${v.model} is not a model folder; build the stand-in with npm run bench -- --sections standin, or pass --model`);
  }
  const folder = openModelFolder(v.model!);
  const threads = Number(v.threads);
  const lengths = v.lengths!.split(',').map(Number);
  const model = await CausalModel.open(folder, { provider: 'cpu', threads, shared: false, contextTokens: Math.max(...lengths) + 64 }, true);
  const code = fs.readFileSync(path.join(ROOT, 'src', 'engine', 'engine.ts'), 'utf8').repeat(8);
  const ids = folder.tokenizer.encode(code);
  const samples = new Map<number, number[]>(lengths.map((n) => [n, []]));
  try {
    // One untimed prefill warms the session (first-run allocations).
    await model.forward(ids.slice(0, 64), null, undefined, { lastOnly: true });
    for (let r = 0; r < Number(v.repeats); r++) {
      for (const n of r % 2 ? [...lengths].reverse() : lengths) {
        model.reset();
        const t0 = performance.now();
        await model.forward(ids.slice(0, n), null, undefined, { lastOnly: true });
        samples.get(n)!.push(performance.now() - t0);
        process.stderr.write('.');
      }
    }
  } finally {
    await model.dispose();
  }
  process.stderr.write('\n');
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const rows = lengths.map((n) => ({ tokens: n, medianMs: median(samples.get(n)!), msPerToken: median(samples.get(n)!) / n, samples: samples.get(n)! }));
  console.log(`${folder.name}, ${threads} thread(s), cpu, context ${model.contextLength}`);
  for (const r of rows) console.log(`${String(r.tokens).padStart(6)} tokens  ${r.medianMs.toFixed(0).padStart(7)} ms  ${r.msPerToken.toFixed(2)} ms/token`);
  if (v.out) fs.writeFileSync(v.out, JSON.stringify({ model: folder.name, threads, rows }, null, 1));
}

main().catch((err: unknown) => {
  console.error(`prefillCost: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
