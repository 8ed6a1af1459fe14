// GPU figures for issue 15 on the 0.5B stand-in (random weights in Qwen2.5-Coder-0.5B's exact shape,
// bench/standin.ts): built at fp16 (what a GPU runs) and int4 (the CPU's best), each decoded greedily
// on webgpu and on cpu. Per run: decode tokens/s after a prompt, the prefill, the cost of verifying
// T = 1..16 tokens relative to one step, bytes copied device -> host per generated token, and whether
// webgpu's greedy tokens equal the cpu's on the same graph. Writes JSON. Step cost does not depend on
// the weights' values; no acceptance figure comes from this model.
//
//   npx tsx bench/gpu/standin.ts --out FILE [--quick] [--providers webgpu,cpu] [--dtypes fp16,int4] [--tokens N]
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { build, BUILDER_VERSION } from '../../src/build/builder';
import { CausalModel } from '../../src/engine/model/causal';
import { deviceReadBackBytes } from '../../src/engine/model/device';
import { openModelFolder } from '../../src/engine/model/folder';
import type { Provider } from '../../src/engine/model/session';
import { QWEN25_05B } from '../checkpoints';
import { standinCheckpoint, TINY_QWEN } from '../standin';

const { values: v } = parseArgs({
  options: {
    out: { type: 'string' }, quick: { type: 'boolean', default: false },
    providers: { type: 'string', default: 'webgpu,cpu' }, dtypes: { type: 'string', default: 'fp16,int4' },
    tokens: { type: 'string', default: '64' }, prompt: { type: 'string', default: '200' }, context: { type: 'string', default: '2048' },
  },
});

type Dtype = 'fp16' | 'int4' | 'int8' | 'fp32';

interface Point {
  dtype: Dtype;
  provider: string;
  /** Where it really ran (a failed webgpu start falls back to cpu). */
  ranOn: string;
  /** The graph that ran: model_fast_fp16.onnx (fp16 K/V and activations) on a device, model_fast.onnx (fp32) otherwise. */
  graph: string;
  promptTokens: number;
  prefillMs: number;
  decodeTokensPerSecond: number;
  /** Device -> host bytes per generated token (argmaxes from a builder-3 graph, else logits rows); 0 on cpu. */
  readBackBytesPerToken: number;
  verify: { T: number; relative: number; medianMs: number }[];
  tokens: number[];
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function builtAt(src: string, dtype: Dtype, contextLength: number): Promise<string> {
  const out = path.join(path.dirname(src), `${path.basename(src)}-${dtype}-gpu`);
  const stamp = path.join(out, 'hasten-bench.json');
  if (fs.existsSync(stamp) && JSON.parse(fs.readFileSync(stamp, 'utf8')).builder === BUILDER_VERSION) return out;
  const b = await build({ from: src, out, dtype, variants: dtype === 'fp32' ? ['fast', 'tree'] : ['fast', 'tree', 'gpu'], contextLength, force: true });
  fs.writeFileSync(stamp, JSON.stringify({ builder: BUILDER_VERSION, seconds: b.seconds }));
  return out;
}

async function measure(dir: string, dtype: Dtype, provider: Provider, promptLen: number, n: number): Promise<Point> {
  const warnings: string[] = [];
  const model = await CausalModel.open(openModelFolder(dir), { provider, threads: 0, shared: false, onFallback: (m) => warnings.push(m) }, true);
  try {
    const vocab = model.vocab;
    const prompt = Array.from({ length: promptLen }, (_, i) => (i * 7919 + 13) % Math.min(vocab, 150000));
    // Warm-up (shader compilation on a GPU): a short prefill and a few steps.
    await model.forward(prompt.slice(0, 16), null, undefined, { lastOnly: true });
    for (let i = 0; i < 3; i++) await model.forward([i + 1], null);
    model.reset();
    const t0 = performance.now();
    // Greedy, as the decoders read it: only each row's argmax (a graph from builder 3 returns no rows then).
    let logits = await model.forward(prompt, null, undefined, { lastOnly: true, read: 'argmax' });
    model.commit(prompt.map((_, i) => i));
    const t1 = performance.now();
    let next = logits.argmax(prompt.length - 1);
    const tokens = [next];
    const read0 = deviceReadBackBytes();
    for (let i = 1; i < n; i++) {
      logits = await model.forward([next], null, undefined, { read: 'argmax' });
      model.commit([0]);
      next = logits.argmax(0);
      tokens.push(next);
    }
    const t2 = performance.now();
    const readBack = (deviceReadBackBytes() - read0) / (n - 1);
    const verify: Point['verify'] = [];
    const base = model.tokens.slice();
    for (const T of [1, 2, 4, 8, 16]) {
      const ms: number[] = [];
      for (let r = 0; r < 5; r++) {
        model.retain(base);
        const s = performance.now();
        await model.forward(Array.from({ length: T }, (_, i) => tokens[i % tokens.length]!), null, undefined, { read: 'argmax' });
        ms.push(performance.now() - s);
      }
      verify.push({ T, medianMs: median(ms), relative: 0 });
    }
    for (const x of verify) x.relative = x.medianMs / verify[0]!.medianMs;
    return {
      dtype, provider, ranOn: model.provider, graph: path.basename(model.chainFile), promptTokens: promptLen, prefillMs: t1 - t0,
      decodeTokensPerSecond: ((n - 1) / (t2 - t1)) * 1000, readBackBytesPerToken: readBack, verify, tokens,
    };
  } finally {
    await model.dispose();
    for (const w of warnings) console.error(`[standin] ${w}`);
  }
}

async function main(): Promise<void> {
  const shape = v.quick ? TINY_QWEN : QWEN25_05B;
  const src = standinCheckpoint(shape);
  const context = Number(v.context);
  const points: Point[] = [];
  const errors: string[] = [];
  for (const dtype of (v.dtypes as string).split(',') as Dtype[]) {
    const dir = await builtAt(src, dtype, context);
    for (const provider of (v.providers as string).split(',') as Provider[]) {
      try {
        const p = await measure(dir, dtype, provider, Number(v.prompt), Number(v.tokens));
        points.push(p);
        console.error(`[standin] ${dtype} ${provider} (ran on ${p.ranOn}): ${p.decodeTokensPerSecond.toFixed(1)} tok/s, prefill ${p.prefillMs.toFixed(0)} ms, ${(p.readBackBytesPerToken / 1024).toFixed(1)} KB read back a token, verify 8 = ${p.verify.find((x) => x.T === 8)!.relative.toFixed(2)} steps`);
      } catch (err) {
        errors.push(`${dtype} ${provider}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }
  // webgpu vs cpu on the same graph: greedy token agreement (fp16 rounding may flip near-ties).
  const agreement = (points.filter((p) => p.provider === 'webgpu')).map((g) => {
    const c = points.find((p) => p.provider === 'cpu' && p.dtype === g.dtype);
    if (!c) return null;
    let same = 0;
    while (same < g.tokens.length && g.tokens[same] === c.tokens[same]) same++;
    return { dtype: g.dtype, identicalPrefix: same, of: g.tokens.length };
  }).filter(Boolean);
  const result = { shape, contextLength: context, points, agreement, errors };
  const json = JSON.stringify(result, null, 2);
  if (v.out) fs.writeFileSync(v.out, json);
  else console.log(json);
}

void main();
