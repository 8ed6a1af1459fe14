// Child process of bench/standin.ts and bench/typing.ts: loads one model, runs a 200-token prompt and
// one step, prints its RSS (and, for ours, the load time). One process per model, so each figure is
// that model's alone.
//   tsx bench/standinRss.ts ours|llama.cpp DIR THREADS QUANT
import { CausalModel } from '../src/engine/model/causal';
import { openModelFolder } from '../src/engine/model/folder';

async function main(): Promise<void> {
  const [kind, dir, threadsArg, quant] = process.argv.slice(2);
  const threads = Number(threadsArg);
  const prompt = Array.from({ length: 200 }, (_, i) => 1000 + ((i * 7919) % 30000));
  if (kind === 'ours') {
    const t0 = performance.now();
    const m = await CausalModel.open(openModelFolder(dir!), { provider: 'cpu', threads, shared: false }, false);
    const loadMs = performance.now() - t0;
    await m.forward(prompt, null);
    m.commit(prompt.map((_, i) => i));
    await m.forward([5], null);
    console.log(`rss=${process.memoryUsage().rss} load=${loadMs.toFixed(1)}`);
    await m.dispose();
    return;
  }
  const { openLlamaCpp } = await import('./peers/llamacpp');
  const r = await openLlamaCpp({ targetDir: dir!, threads, contextSize: 2048, quant: quant as 'Q8_0' | 'Q4_0', plainOnly: true });
  if (!r.ok) throw new Error(r.message);
  const g = await r.systems[0]!.generate(prompt, 2, []);
  if (g.error) throw new Error(g.error);
  console.log(`rss=${process.memoryUsage().rss}`);
  await r.systems[0]!.dispose();
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
