// npx tsx bench/arena.ts [--prompts N] [--strategy S]: the decode cost of turning ONNX Runtime's CPU
// memory arena off (the soak's engine-process RSS growth is the arena's high-water mark; see README,
// Reliability). Two engines on the bundled target in this process, one with the arena (the default)
// and one without, complete the same workload prompts interleaved (alternating which goes first);
// the paired ratio of decode times is reported.
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { Engine, type Strategy } from '../src/engine';
import { loadWorkloads } from './workloads';

const { values: args } = parseArgs({ options: { prompts: { type: 'string', default: '40' }, strategy: { type: 'string', default: 'autoregressive' } } });
const ROOT = path.resolve(__dirname, '..');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

async function decodeMs(e: Engine, prefix: string, suffix: string): Promise<{ ms: number; tokens: number; text: string }> {
  let last;
  for await (const u of e.complete({ prefix, suffix, strategy: args.strategy as Strategy, maxNewTokens: 48 })) last = u;
  return { ms: last!.trace.decodeMs + last!.trace.prefillMs, tokens: last!.trace.tokens, text: last!.text };
}

async function main(): Promise<void> {
  const options = { modelDir: path.join(ROOT, 'models', 'hasten-target'), draftDir: null, cmlmDir: null, runtime: { provider: 'cpu' as const, threads: 1 } };
  const withArena = await Engine.load(options);
  const create = ort.InferenceSession.create.bind(ort.InferenceSession) as (...a: unknown[]) => Promise<ort.InferenceSession>;
  (ort.InferenceSession as unknown as { create: typeof create }).create = (file, o) => create(file, { ...(o as object), enableCpuMemArena: false });
  const without = await Engine.load(options);
  const items = loadWorkloads().slice(0, Number(args.prompts));
  const ratios: number[] = [];
  let tokens = 0;
  let differ = 0;
  for (const [i, it] of items.entries()) {
    await withArena.reset();
    await without.reset();
    const first = i % 2 === 0 ? withArena : without;
    const second = first === withArena ? without : withArena;
    const a = await decodeMs(first, it.prefix, it.suffix);
    const b = await decodeMs(second, it.prefix, it.suffix);
    const [on, off] = first === withArena ? [a, b] : [b, a];
    ratios.push(off.ms / on.ms);
    tokens += on.tokens;
    if (on.text !== off.text) differ++;
  }
  console.log(`${args.strategy}, ${items.length} prompts, ${tokens} tokens: time without the CPU arena / with it: median ${median(ratios).toFixed(3)}, ` +
    `p25 ${[...ratios].sort((x, y) => x - y)[Math.floor(ratios.length / 4)]!.toFixed(3)}, p75 ${[...ratios].sort((x, y) => x - y)[Math.floor((3 * ratios.length) / 4)]!.toFixed(3)}; texts differing: ${differ}`);
  await withArena.dispose();
  await without.dispose();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
