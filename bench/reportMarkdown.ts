// Renders bench/report/REPORT.md from the report's data. Every figure in it comes from this run;
// nothing here is typed in by hand.
import type { StrategyInfo } from '../src/engine';
import { autoVsBest, type HeadlineRow } from './headline';
import { costAt } from './limit';
import type { ReportData } from './report';
import { builderTargets, builderTargetsMarkdown, graphsMarkdown, standinMarkdown } from './reportGraphs';
import { typingMarkdown } from './typing';

const f = (x: number | null | undefined, d = 2) => (x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(d));
const pct = (x: number | null | undefined) => (x === null || x === undefined || !Number.isFinite(x) ? '–' : `${(100 * x).toFixed(1)}%`);
const esc = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function table(head: string[], rows: (string | number)[][]): string {
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.map((c) => esc(String(c))).join(' | ')} |`)].join('\n');
}

const img = (data: ReportData, name: string, alt: string) => (data.plots[name] ? `\n![${alt}](${name})\n` : '');

export interface TargetCheck {
  measure: string;
  target: string;
  measured: string;
  met: boolean | null;
  detail: string;
}

/** Lossless strategies of ours that really were lossless in this run, best first (all workloads together). */
export function bestLossless(rows: HeadlineRow[]): HeadlineRow | undefined {
  return rows
    .filter((r) => r.family === 'hasten' && !r.lossy && r.system !== 'autoregressive' && r.workload === 'all' && r.failed === 0 && r.identical === r.runs)
    .sort((a, b) => b.speedup - a.speedup)[0];
}

export function targets(data: ReportData): TargetCheck[] {
  const rows = data.headline?.rows ?? [];
  const all = (id: string) => rows.find((r) => r.system === id && r.workload === 'all' && r.failed < r.runs);
  const best = bestLossless(rows);
  const ar = all('autoregressive');
  const llama = all('llama.cpp/plain');
  const tjs = all('transformers.js/greedy');
  const check = (measure: string, target: number, value: number | null, detail: string): TargetCheck => ({
    measure, target: `≥ ${target}×`, measured: value === null ? 'not measured' : `${value.toFixed(2)}×`, met: value === null ? null : value >= target, detail,
  });
  const vs = data.headline ? autoVsBest(rows, data.headline.records).filter((v) => v.workload !== 'all') : [];
  const worst = [...vs].sort((a, b) => a.ratio - b.ratio)[0];
  return [
    check('our best lossless strategy vs our autoregressive decoding', 3, best ? best.speedup : null, best ? `${best.system}, ${best.identical}/${best.runs} identical` : 'no lossless strategy completed'),
    check('our best lossless strategy vs llama.cpp plain decoding (tok/s, same weights)', 1.5, best && llama ? best.tokensPerSecond / llama.tokensPerSecond : null,
      best && llama ? `${best.system} ${f(best.tokensPerSecond, 0)} tok/s vs llama.cpp ${f(llama.tokensPerSecond, 0)} tok/s` : 'llama.cpp peer not run (see Peers)'),
    check('our autoregressive decoding vs transformers.js', 1.5, ar && tjs ? ar.tokensPerSecond / tjs.tokensPerSecond : null,
      ar && tjs ? `${f(ar.tokensPerSecond, 0)} vs ${f(tjs.tokensPerSecond, 0)} tok/s` : 'transformers.js peer not run (see Peers)'),
    check('auto (the default) vs the best single lossless strategy, on every workload (the lowest)', 1, worst ? worst.ratio : null,
      worst ? `${worst.workload}: ${worst.best}, per-prompt median ${f(worst.medianRatio)}× (95% interval ${f(worst.medianRange[0])}-${f(worst.medianRange[1])}×); target passes auto / best ${vs.reduce((n, v) => n + v.autoSteps, 0)} / ${vs.reduce((n, v) => n + v.bestSteps, 0)}, same work on ${vs.reduce((n, v) => n + v.sameWork, 0)}/${vs.reduce((n, v) => n + v.runs, 0)} prompts (see Auto)` : 'auto not run'),
  ];
}

function headline(data: ReportData, strategies: readonly StrategyInfo[]): string {
  const h = data.headline!;
  const desc = (id: string) => strategies.find((s) => s.id === id)?.label ?? data.peers.flatMap((p) => p.systems).find((s) => s.id === id)?.id ?? id;
  const row = (r: HeadlineRow) => [
    r.system, r.workload, f(r.tokensPerSecond, 1), `${f(r.speedup)}×`, pct(r.acceptanceRate), f(r.meanAcceptedPerStep), f(r.tokensPerStep), f(r.prefillMs, 0),
    r.lossy ? 'no (lossy)' : r.failed === r.runs ? '–' : r.identical === r.runs - r.failed ? `yes (${r.identical}/${r.runs - r.failed})` : `NO (${r.identical}/${r.runs - r.failed})`,
    r.lossy || r.system === 'autoregressive' ? `${pct(r.agreement)} / ${pct(r.lineExact)}` : '', r.failed ? `${r.failed}: ${r.firstError ?? ''}` : '',
  ];
  const head = ['system', 'workload', 'tok/s', 'speed-up', 'acceptance', 'accepted/step', 'tokens/step', 'prefill ms', 'identical to autoregressive', 'quality: agreement / line exact', 'failed'];
  const order = (rs: HeadlineRow[]) => [...rs].sort((a, b) => (a.system === 'autoregressive' ? -1 : b.system === 'autoregressive' ? 1 : a.family === b.family ? b.speedup - a.speedup : a.family === 'hasten' ? -1 : 1));
  const kinds = [...new Set(h.rows.map((r) => r.workload).filter((w) => w !== 'all'))];
  return [
    '## Headline',
    '',
    `${h.items.length} held-out prompts (${kinds.map((k) => `${h.rows.filter((r) => r.workload === k && r.system === 'autoregressive')[0]?.runs ?? 0} ${k}`).join(', ')}), at most ${h.maxNewTokens} new tokens, greedy. ` +
      'Every system ran on every prompt, in an order that rotates from prompt to prompt and is reversed on every other prompt (so no system always follows the same one), with empty caches (each run pays its own prefill). ' +
      'tok/s is decode throughput (tokens after prefill over decode time, the first token included); speed-up is that over our autoregressive decoding on the same prompts in this run. ' +
      'Prefill is the prompt through every model a system runs, so the draft-model and token-tree rows include the draft model\'s own pass over the prompt (llama.cpp counts its draft\'s prompt the same way); "prefill ms" is its mean per run. ' +
      '"Identical" compares token ids with our autoregressive output; quality (for lossy strategies) is position-wise token agreement with it and how often the first line equals the held-out truth.',
    '',
    '### All workloads',
    '',
    table(head, order(h.rows.filter((r) => r.workload === 'all')).map(row)),
    img(data, 'headline-speedup.svg', 'speed-up per system and workload'),
    '### Per workload',
    '',
    table(head, kinds.flatMap((k) => order(h.rows.filter((r) => r.workload === k))).map(row)),
    '',
    'Systems: ' + [...new Set(h.rows.map((r) => r.system))].map((id) => `\`${id}\` ${desc(id)}`).join('; ') + '.',
    autoSection(h.rows, h.records),
  ].join('\n');
}

/** Auto against the fastest single lossless strategy of each workload, by time and by work done. */
function autoSection(rows: HeadlineRow[], records: Parameters<typeof autoVsBest>[1]): string {
  const vs = autoVsBest(rows, records);
  if (vs.length === 0) return '';
  return [
    '',
    '### Auto',
    '',
    '`auto`, the default, against the fastest single lossless strategy of each workload in this run. Time per prompt is noisy (the same steps of the same ' +
      'strategy on the same prompt take up to twice as long from one run to the next), so the work is shown too: the target passes (steps) each took, and the ' +
      'prompts on which auto did exactly the best strategy\'s work (the same steps, drafted and accepted tokens), and the median over prompts of the best\'s decode time ' +
      'over auto\'s, which a burst of load on a few prompts does not move (the tok/s ratio sums times, so one slow run weighs in fully), with a 95% bootstrap ' +
      'interval: where it holds 1×, this run does not tell auto and the best apart. Auto\'s prompt lookup sizes each draft by the match it copies from ' +
      '(`AUTO_LOOKUP` in `src/engine/engine.ts`), so where auto ran it, it took fewer target passes than `prompt-lookup` rather than the same work. Here every strategy runs on every prompt, so ' +
      'auto has fresh measurements of each and explores none; in an editor it explores about one request in 60 (`src/engine/strategies.ts`).',
    '',
    table(['workload', 'best single lossless', 'its tok/s', 'auto tok/s', 'auto / best lossless', 'per prompt, median', 'median, 95% interval', 'steps: auto / best', 'same work as best'],
      vs.map((v) => [v.workload, v.best, f(v.bestTokensPerSecond, 1), f(v.autoTokensPerSecond, 1), `${f(v.ratio)}×`, `${f(v.medianRatio)}×`, `${f(v.medianRange[0])}-${f(v.medianRange[1])}×`, `${v.autoSteps} / ${v.bestSteps}`, `${v.sameWork}/${v.runs}`])),
  ].join('\n');
}

function limit(data: ReportData): string {
  const l = data.limit!;
  const pts = l.target.points;
  const best = pts.reduce((a, p) => (p.T / p.relative > a.T / a.relative ? p : a), pts[0]!);
  const pick = pts.filter((p) => [1, 2, 3, 4, 5, 6, 8, 12, 16, 24, 32].includes(p.T));
  const out = [
    '## Physical limit',
    '',
    `One forward pass of the target over T chain tokens after a ${l.target.past}-token past (the longest headline prompt), median of ${l.target.repeats} interleaved repeats, rolled back after each pass. ` +
      `If every drafted token were accepted and drafting cost nothing, verifying T tokens per pass would give T / cost(T); the best on this machine is **${f(best.T / best.relative)}× at T = ${best.T}**.`,
    '',
    table(['T', ...pick.map((p) => String(p.T))], [['ms', ...pick.map((p) => f(p.medianMs))], ['cost(T) / cost(1)', ...pick.map((p) => f(p.relative))], ['ceiling T / cost(T)', ...pick.map((p) => f(p.T / p.relative))]]),
    img(data, 'limit-verify-cost.svg', 'verification cost against T'),
    `One decode step: ${Object.entries(l.draftStepMs).map(([k, ms]) => `${k} ${f(ms)} ms`).join(', ')} (same past).`,
  ];
  const rows = (data.headline?.rows ?? []).filter((r) => r.workload === 'all' && r.family === 'hasten' && r.verifyWidth !== null && r.tokensPerStep !== null && r.failed < r.runs);
  if (rows.length) {
    out.push('',
      'How close each strategy gets: with its measured verification width w (drafted tokens per step + 1) and tokens kept per step τ, a pass costs cost(w) target steps, so free drafting would give τ / cost(w); ' +
      'perfect acceptance at the same width would give w / cost(w). The rest of the gap to the measured speed-up is drafting and bookkeeping time.',
      '',
      table(['strategy', 'width w', 'tokens/step τ', 'cost(w)', 'ceiling with free drafting τ/cost(w)', 'ceiling with perfect acceptance w/cost(w)', 'measured speed-up', 'share of free-drafting ceiling'],
        rows.map((r) => {
          const c = costAt(l.target, r.verifyWidth!);
          return [r.system, f(r.verifyWidth), f(r.tokensPerStep), f(c), `${f(r.tokensPerStep! / c)}×`, `${f(r.verifyWidth! / c)}×`, `${f(r.speedup)}×`, pct(r.speedup / (r.tokensPerStep! / c))];
        })));
  }
  return out.join('\n');
}

function exp1(data: ReportData): string {
  const e = data.exp1!;
  return [
    '## Experiment 1: draft size × draft length',
    '',
    `${e.items.length} held-out prompts per draft model; the draft-model chain at a fixed k (and the adaptive default, "adaptive"), each against autoregressive decoding on the same prompts, interleaved. The chain is lossless: "identical" counts runs equal to autoregressive decoding.`,
    '',
    table(['draft', 'params', 'k', 'acceptance', 'accepted/step', 'tokens/step', 'tok/s', 'speed-up', 'identical', 'failed'],
      e.points.map((p) => [p.draft, p.draftParams ? `${(p.draftParams / 1e6).toFixed(2)}M` : '–', p.k ?? 'adaptive', pct(p.acceptanceRate), f(p.meanAcceptedPerStep), f(p.tokensPerStep), f(p.tokensPerSecond, 1), `${f(p.speedup)}×`, `${p.identical}/${p.runs - p.failed}`, p.failed ? `${p.failed}: ${p.firstError}` : ''])),
    img(data, 'exp1-acceptance.svg', 'acceptance by draft length'),
    img(data, 'exp1-speedup.svg', 'speed-up by draft length'),
  ].join('\n');
}

function exp2(data: ReportData): string {
  const e = data.exp2!;
  return [
    '## Experiment 2: early-exit threshold sweep',
    '',
    `${e.items.length} held-out prompts (the evaluation half of the workloads), 32 new tokens, interleaved. Agreement is position-wise token agreement with the full model's greedy output; "line = full" is how often the first line equals the full model's; "line exact" compares with the held-out truth. ` +
      '`full-depth` is the layered runtime without exits (its overhead); `self-speculation` is the lossless LayerSkip strategy. Pareto-optimal points per measure are marked ★.',
    '',
    table(['configuration', 'tok/s', 'speed-up', 'mean exit layer', 'agreement', 'identical', 'line = full', 'line exact', 'acceptance', 'Pareto'],
      e.points.map((p, i) => [e.keys[i]!, f(p.tokensPerSecond, 1), `${f(p.speedup)}×`, f(p.meanExitLayer), pct(p.agreement), pct(p.identical), pct(p.lineAgreement), pct(p.lineExact), pct(p.acceptance), p.pareto ? '★' : ''])),
    img(data, 'exp2-pareto.svg', 'Pareto front: speed-up against agreement'),
    img(data, 'exp2-exact.svg', 'speed-up against first-line agreement'),
  ].join('\n');
}

function exp3(data: ReportData): string {
  const e = data.exp3!;
  return [
    '## Experiment 3: Mask-Predict iterations',
    '',
    `${e.spans.length} held-out infilling spans (${e.spans.filter((s) => s.set === 'span16').length} of 16 tokens, ${e.spans.filter((s) => s.set === 'line').length} rest-of-line), CMLM \`${e.cmlm}\` against autoregressive FIM decoding by the target on the same spans, interleaved. ` +
      'Latency is request to final text with empty caches; "oracle" gives Mask-Predict the true length 16. Quality against the true span.',
    '',
    table(['set', 'method', 'T', 'runs', 'median latency', 'vs autoregressive', 'exact', 'edit similarity', 'chrF'],
      e.rows.map((r) => [r.set, r.method, r.T ?? '–', r.runs, `${f(r.medianLatencyMs, 0)} ms`, `${f(r.latencyRatio)}×`, pct(r.exactMatch), f(r.editSimilarity, 3), f(r.chrF, 1)])),
    img(data, 'exp3-latency.svg', 'Mask-Predict latency by iterations'),
    img(data, 'exp3-quality.svg', 'Mask-Predict quality by iterations'),
  ].join('\n');
}

function peers(data: ReportData): string {
  const lines = ['## Systems and settings', '', `- **Hasten** (\`${data.hasten.target}\`, draft \`${data.hasten.draft ?? 'none'}\`): ${data.hasten.settings}.`];
  for (const p of data.peers) {
    if (!p.available) lines.push(`- **${p.peer}**: not run. ${p.message ?? ''}`);
    for (const s of p.systems) lines.push(`- **${s.id}**: ${s.description.replace(/\.?$/, '.')}`);
  }
  if (data.peers.some((p) => p.peer === 'llama.cpp' && p.available)) {
    lines.push('', 'Every setting is also in `report.json` (`peers[].systems[].settings`).');
    lines.push('', 'llama.cpp is node-llama-cpp 3.21.1 as shipped. Its speculation has two known defects (see `../shared/notes/llama-cpp-peer.md`): at most one drafted token is accepted per step ' +
      '(`validatedTokens` is never filled in `_speculativeEvaluate`), and `DraftSequenceTokenPredictor` drops the last used draft token, so the draft falls out of sync. Its speculative rows show that behaviour; no patched variant is reported.');
  }
  return lines.join('\n');
}

export function renderReport(data: ReportData, strategies: readonly StrategyInfo[]): string {
  const t = targets(data);
  const parts = [
    '# Hasten benchmark report',
    '',
    `Generated by \`${data.command}\` (${data.mode} run) on ${data.started.slice(0, 16).replace('T', ' ')} UTC in ${(data.seconds / 60).toFixed(1)} min. ` +
      `Machine: ${data.machine.cores} × ${data.machine.cpu}, ${data.machine.memoryGb} GB, ${data.machine.platform}, Node ${data.machine.node}; 1-minute load average ${f(data.machine.loadAverageStart)} at the start, ${f(data.machine.loadAverageEnd)} at the end. ` +
      `Every system ran with ${data.threads} intra-op thread(s). Ratios are measured side by side in this run; absolute tok/s depend on the machine.`,
    data.mode === 'quick' ? '\n**Quick run**: a few prompts per section, to keep the harness working; its figures are not meaningful.\n' : '',
    '## Targets',
    '',
    table(['measure', 'target', 'measured', 'met', 'detail'], t.map((x) => [x.measure, x.target, x.measured, x.met === null ? '–' : x.met ? 'yes' : 'no', x.detail])),
    data.latency ? `\nKeystroke to first ghost text through the real inline provider (\`bench/provider.ts\`, strategy \`${data.latency.strategy}\`, ${data.latency.samples} words typed): p50 ${f(data.latency.p50Ms, 0)} ms, p95 ${f(data.latency.p95Ms, 0)} ms, max ${f(data.latency.maxMs, 0)} ms (targets p50 ≤ 150, p95 ≤ 400); longest event-loop block while typing ${f(data.latency.eventLoopMaxMs, 1)} ms.` : '',
    '',
  ];
  if (data.graphs || data.standin) parts.push('### The graph builder\'s targets', '', builderTargetsMarkdown(builderTargets(data.graphs, data.standin)), '');
  if (data.headline) parts.push(headline(data, strategies), '');
  if (data.limit) parts.push(limit(data), '');
  if (data.exp1) parts.push(exp1(data), '');
  if (data.exp2) parts.push(exp2(data), '');
  if (data.exp3) parts.push(exp3(data), '');
  if (data.graphs) parts.push(graphsMarkdown(data.graphs), '');
  if (data.standin) parts.push(standinMarkdown(data.standin), '');
  if (data.typing) parts.push(typingMarkdown(data.typing), '');
  parts.push(peers(data), '');
  if (data.errors.length) parts.push('## Problems in this run', '', ...data.errors.map((e) => `- **${e.section}**: ${e.error}`), '');
  parts.push('Raw figures: `report.json` beside this file (every run of the headline, every point of each experiment).', '');
  return parts.join('\n');
}
