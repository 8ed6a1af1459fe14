// REPORT.md's sections on the graph builder: the bundled target's graphs and precisions, and the
// 0.5B-shaped stand-in against llama.cpp. Every figure comes from the run's data.
import type { GraphsResult } from './graphs';
import type { HeadlineRow } from './headline';
import type { StandinResult } from './standin';

const f = (x: number | null | undefined, d = 2) => (x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(d));
const esc = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
function table(head: string[], rows: (string | number)[][]): string {
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.map((c) => esc(String(c))).join(' | ')} |`)].join('\n');
}

export interface BuilderTarget {
  measure: string;
  target: string;
  measured: string;
  met: boolean | null;
}

const all = (rows: HeadlineRow[], id: string) => rows.find((r) => r.system === id && r.workload === 'all' && r.failed < r.runs);

/** The graph builder's targets (issue: graph builder), from the graphs and standin sections. */
export function builderTargets(g: GraphsResult | undefined, s: StandinResult | undefined): BuilderTarget[] {
  const out: BuilderTarget[] = [];
  const ratio = (measure: string, target: number, a: HeadlineRow | undefined, b: HeadlineRow | undefined, cmp: '≥' | '≤' = '≥') => {
    const v = a && b && b.tokensPerSecond > 0 ? a.tokensPerSecond / b.tokensPerSecond : null;
    out.push({ measure, target: `${cmp} ${target}×`, measured: v === null ? 'not measured' : `${f(v)}× (${f(a!.tokensPerSecond, 0)} vs ${f(b!.tokensPerSecond, 0)} tok/s)`, met: v === null ? null : cmp === '≥' ? v >= target : v <= target });
  };
  if (g) {
    const k = g.kernels.find((x) => x.graph === 'builder fast fp16');
    out.push({ measure: 'kernels per decode step, bundled target (fast graph with GroupQueryAttention: WebGPU runs it or its fp16 twin)', target: '≤ 100', measured: k ? `${k.kernelsPerStep} (torch export: ${g.kernels.find((x) => x.graph === 'torch export')?.kernelsPerStep ?? '–'})` : 'not measured', met: k ? k.kernelsPerStep <= 100 : null });
    // What the CPU runs (every tok/s row of this section): more, smaller kernels that never copy the K/V cache.
    const c = g.kernels.find((x) => x.graph === 'builder CPU graph fp32');
    if (c) out.push({ measure: 'kernels per decode step, bundled target (CPU graph: what the CPU runs, here at fp32)', target: '≤ 100', measured: `${c.kernelsPerStep} (attention as plain ops over the K/V buffer, no copy of it: faster than the fast graph on the CPU, see the tok/s rows)`, met: c.kernelsPerStep <= 100 });
    const r = g.rows;
    ratio('plain decoding: fast fp32 graph vs the torch export', 1.5, all(r, 'fast fp32'), all(r, 'torch export'));
    ratio('plain decoding: shipped fast graph (fp16 weights) vs the torch export', 1.5, all(r, 'fast fp16'), all(r, 'torch export'));
    ratio('our fp32 vs llama.cpp F32 (same weights)', 1, all(r, 'fast fp32'), all(r, 'llama.cpp/plain'));
    ratio('our int8 vs llama.cpp Q8_0 (same quantised weights)', 1, all(r, 'fast int8'), all(r, 'llama.cpp/plain Q8_0'));
    ratio('our int4 vs llama.cpp Q4_0 (same quantised weights)', 1, all(r, 'fast int4'), all(r, 'llama.cpp/plain Q4_0'));
    ratio('our shipped default (fp16 weights) vs llama.cpp F32', 2, all(r, 'fast fp16'), all(r, 'llama.cpp/plain'));
    ratio('our int8 (the fastest lossless precision here) vs llama.cpp F32', 2, all(r, 'fast int8'), all(r, 'llama.cpp/plain'));
    ratio('prompt lookup on the shipped graph vs llama.cpp F32', 3, all(r, 'fast fp16 + prompt lookup'), all(r, 'llama.cpp/plain'));
    ratio('prompt lookup on the int8 graph vs llama.cpp F32', 3, all(r, 'fast int8 + prompt lookup'), all(r, 'llama.cpp/plain'));
    ratio('our plain decoding (fast graph) vs transformers.js on the standard graph', 1.5, all(r, 'fast fp16'), all(r, 'transformers.js/greedy'));
    const q = (d: string) => g.quality.find((x) => x.dtype === d)?.bitsPerByte;
    const q32 = q('fp32');
    for (const [d, t] of [['int8', 1], ['int4', 4]] as const) {
      const v = q(d);
      out.push({ measure: `quality cost of ${d}: held-out bits/byte vs fp32`, target: `≤ +${t}%`, measured: v && q32 ? `${f(100 * (v / q32 - 1), 3)}% (${f(v, 4)} vs ${f(q32, 4)})` : 'not measured', met: v && q32 ? 100 * (v / q32 - 1) <= t : null });
    }
  }
  if (s) {
    for (const threads of [...new Set(s.points.map((p) => p.threads))]) {
      for (const [ours, peer] of [['int4', 'llama.cpp Q4_0'], ['int8', 'llama.cpp Q8_0']] as const) {
        const a = s.points.find((p) => p.system === 'hasten' && p.precision === ours && p.threads === threads);
        const b = s.points.find((p) => p.system === peer && p.threads === threads);
        const v = a && b ? a.decodeTokensPerSecond / b.decodeTokensPerSecond : null;
        out.push({ measure: `stand-in decode, our ${ours} vs ${peer}, ${threads} thread(s)`, target: '≥ 1×', measured: v === null ? 'not measured' : `${f(v)}× (${f(a!.decodeTokensPerSecond, 1)} vs ${f(b!.decodeTokensPerSecond, 1)} tok/s)`, met: v === null ? null : v >= 1 });
        const p = a && b ? b.prefillMs / a.prefillMs : null;
        out.push({ measure: `stand-in prefill of ${a?.prefillTokens ?? '–'} tokens, our ${ours} vs ${peer}, ${threads} thread(s)`, target: '≥ 1×', measured: p === null ? 'not measured' : `${f(p)}× (${f(a!.prefillMs, 0)} vs ${f(b!.prefillMs, 0)} ms)`, met: p === null ? null : p >= 1 });
      }
    }
    for (const [ours, peer] of [['int4', 'Q4_0'], ['int8', 'Q8_0']] as const) {
      const a = s.rss.find((x) => x.system === 'hasten' && x.precision === ours);
      const b = s.rss.find((x) => x.system === 'llama.cpp' && x.precision === peer);
      const v = a && b ? a.rssMb / b.rssMb : null;
      out.push({ measure: `stand-in RSS, our ${ours} vs llama.cpp ${peer}`, target: '≤ 1.3×', measured: v === null ? 'not measured' : `${f(v)}× (${f(a!.rssMb, 0)} vs ${f(b!.rssMb, 0)} MB)`, met: v === null ? null : v <= 1.3 });
    }
    const b4 = s.builds.find((b) => b.dtype === 'int4');
    out.push({ measure: 'builder time, stand-in to int4', target: '≤ 90 s', measured: b4 ? `${f(b4.seconds, 1)} s` : 'not measured', met: b4 ? b4.seconds <= 90 : null });
  }
  return out;
}

export function graphsMarkdown(g: GraphsResult): string {
  const rows = g.rows.filter((r) => r.workload === 'all');
  return [
    '## The graph builder on the bundled target',
    '',
    `Plain decoding of each graph and precision on ${g.items.length} held-out prompts (at most ${g.maxNewTokens} new tokens, greedy), interleaved per prompt; speed-up and identity are against ${g.base}, on the same weights. ${g.kernels.some((k) => k.graph === 'torch export') ? 'The torch export the builder replaced (its graph from git, commit `02c9e38`) runs the first-generation weights in the same shapes (and their 256-token context, so its prompts are cut shorter): compare its speed and kernels, not its tokens. ' : '(No git history: the torch export was not run.) '}` +
      'Identity across precisions is not expected (different weights); within a graph every lossless strategy is proven token for token by the tests.',
    '',
    table(['system', 'tok/s', `vs ${g.base}`, `identical to ${g.base}`, 'failed'], rows.map((r) => [r.system, f(r.tokensPerSecond, 1), `${f(r.speedup)}×`, `${r.identical}/${r.runs - r.failed}`, r.failed ? `${r.failed}: ${r.firstError ?? ''}` : ''])),
    '',
    'Kernels per decode step (onnxruntime profiler, median over 8 steps after a 32-token prompt, 1 thread):',
    '',
    table(['graph', 'file', 'kernels / step'], g.kernels.map((k) => [k.graph, `\`${k.file}\``, k.kernelsPerStep])),
    '',
    'Held-out bits per byte (teacher-forced over the prompts\' source text, windows of 256 tokens):',
    '',
    table(['weights', 'bits/byte', 'tokens', 'bytes'], g.quality.map((q) => [q.dtype, f(q.bitsPerByte, 4), q.tokens, q.bytes])),
    '',
    `Builds from the committed checkpoint: ${g.builds.map((b) => `${b.dtype} ${f(b.seconds, 1)} s, ${f(b.weightBytes / 1e6, 1)} MB`).join('; ')}.`,
    g.peerErrors.length ? `\nPeers not run: ${g.peerErrors.join('; ')}` : '',
    g.peers.length ? `\nPeers: ${g.peers.map((p) => `**${p.id}**: ${p.description}`).join(' ')}` : '',
  ].join('\n');
}

export function standinMarkdown(s: StandinResult): string {
  const sh = s.shape;
  return [
    '## Real size: a random-weight stand-in shaped like Qwen2.5-Coder-0.5B',
    '',
    `${sh.layers} layers, hidden ${sh.hidden}, ${sh.heads} / ${sh.kvHeads} heads of ${sh.headDim}, intermediate ${sh.intermediate}, vocab ${sh.vocab} (${f(s.params / 1e6, 0)}M parameters), tied, q/k/v biases, with the real Qwen2.5 tokenizer; ` +
      `built by Hasten's builder at int8 / int4 (context ${s.contextLength}) and written as Q8_0 / Q4_0 GGUF for llama.cpp: the same quantised numbers. Step cost does not depend on the weights' values; acceptance does, so no acceptance figure comes from this model.`,
    '',
    table(['system', 'weights', 'threads', 'decode tok/s', `prefill ms`], s.points.map((p) => [p.system, p.precision, p.threads, f(p.decodeTokensPerSecond, 1), `${f(p.prefillMs, 0)} (${p.prefillTokens} tokens)`])),
    '',
    `Cost of verifying T tokens in one pass (int4, ${s.points.length ? Math.max(...s.points.map((p) => p.threads)) : '–'} thread(s)), relative to one token: ${s.verify.map((v) => `T=${v.T} ${f(v.relative)}`).join(', ')}.`,
    '',
    `RSS of one loaded model in its own process: ${s.rss.map((r) => `${r.system} ${r.precision} ${f(r.rssMb, 0)} MB`).join('; ')}.`,
    `Builder: ${s.builds.map((b) => `${b.dtype} ${f(b.seconds, 1)} s (${f(b.weightBytes / 1e6, 0)} MB of weights)`).join('; ')}.`,
    s.errors.length ? `\nProblems: ${s.errors.join('; ')}` : '',
  ].join('\n');
}

export function builderTargetsMarkdown(t: BuilderTarget[]): string {
  return table(['measure', 'target', 'measured', 'met'], t.map((x) => [x.measure, x.target, x.measured, x.met === null ? '–' : x.met ? 'yes' : 'no']));
}
