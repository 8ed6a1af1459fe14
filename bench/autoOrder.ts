// Auto against prompt lookup with the order balanced: per prompt, autoregressive decoding, then auto and
// prompt lookup in an order that alternates from prompt to prompt, then lookahead (`hasten bench` keeps
// the strategies' cyclic order, so one strategy always runs right after the same other one). Prints
// tokens/s per strategy and workload, what auto ran, and how close `lookupSteps` (auto's yardstick) came
// to prompt lookup's real step count.
//   npx tsx bench/autoOrder.ts [--limit 30] [--threads 1]
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Engine, Strategy, summarise } from '../src/engine';
import { DEFAULT_LOOKUP, lookupSteps } from '../src/engine/drafters/promptLookup';
import { BenchWorkspace, loadWorkloads } from './workloads';

async function main(): Promise<void> {
  const { values: v } = parseArgs({ options: { limit: { type: 'string', default: '30' }, threads: { type: 'string', default: '1' } } });
  const engine = await Engine.load({ modelDir: path.join(__dirname, '..', 'models', 'hasten-target'), runtime: { provider: 'cpu', threads: Number(v.threads) } });
  const items = loadWorkloads(undefined, Number(v.limit));
  const workspace = new BenchWorkspace([engine.retrieval]);
  await workspace.load(items);
  const sums = new Map<string, { tokens: number; ms: number }>();
  const picks = new Map<string, number>();
  const off = new Map<number, number>();
  try {
    for (const [n, item] of items.entries()) {
      await workspace.at(item);
      const pair: Strategy[] = n % 2 ? ['auto', 'prompt-lookup'] : ['prompt-lookup', 'auto'];
      for (const s of ['autoregressive', ...pair, 'lookahead'] as Strategy[]) {
        await engine.reset();
        let t;
        for await (const u of engine.complete({ prefix: item.prefix, suffix: item.suffix, strategy: s, maxNewTokens: 48 })) if (u.done) t = u.trace;
        if (!t) continue;
        for (const key of [`${s} ${item.kind}`, `${s} all`]) {
          const a = sums.get(key) ?? { tokens: 0, ms: 0 };
          sums.set(key, { tokens: a.tokens + t.tokens, ms: a.ms + t.decodeMs });
        }
        if (s === 'auto') picks.set(t.strategy, (picks.get(t.strategy) ?? 0) + 1);
        if ((s === 'prompt-lookup' || t.strategy === 'auto:prompt-lookup') && t.tokens > 1) {
          const d = lookupSteps(engine.prompt(item.prefix, item.suffix, 48), t.output, { ...DEFAULT_LOOKUP, draftLength: 8 }) - summarise(t).steps;
          off.set(d, (off.get(d) ?? 0) + 1);
        }
      }
      process.stderr.write(`\r${n + 1}/${items.length}`);
    }
  } finally {
    await engine.dispose();
  }
  process.stderr.write('\n');
  for (const [key, a] of [...sums].sort()) console.log(`${key.padEnd(28)} ${((1000 * a.tokens) / a.ms).toFixed(0).padStart(6)} tok/s`);
  console.log('auto ran:', Object.fromEntries(picks));
  console.log('lookupSteps minus real prompt-lookup steps:', Object.fromEntries([...off].sort((a, b) => a[0] - b[0])));
}

void main();
