// The benchmark report (issue 9): its reductions on hand-made runs, its rendering of failures and
// missing peers, and one real `npm run bench -- --quick` end to end so the harness cannot rot.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { STRATEGIES } from '../../src/engine';
import { autoVsBest, HeadlineRecord, HeadlineSystem, systemOrder, tabulateHeadline } from '../../bench/headline';
import { costAt, VerifyCost } from '../../bench/limit';
import type { ReportData } from '../../bench/report';
import { renderReport, targets } from '../../bench/reportMarkdown';
import type { WorkloadItem } from '../../bench/workloads';

const ROOT = path.resolve(__dirname, '..', '..');

const item = (id: string, kind: WorkloadItem['kind']): WorkloadItem => ({ id, kind, source: 's', license: 'MIT', lang: 'ts', prefix: 'a', suffix: 'b', truth: 'x\ny' });
const rec = (system: string, it: WorkloadItem, output: number[], decodeMs: number, extra: Partial<HeadlineRecord> = {}): HeadlineRecord => ({
  item: it.id, workload: it.kind, system, tokens: output.length, decodeMs, prefillMs: 1, steps: output.length, drafted: 0, accepted: 0, output, ...extra,
});
const systems: HeadlineSystem[] = [
  { id: 'autoregressive', family: 'hasten', lossy: false, strategy: 'autoregressive' },
  { id: 'prompt-lookup', family: 'hasten', lossy: false, strategy: 'prompt-lookup' },
  { id: 'draft-model', family: 'hasten', lossy: false, strategy: 'draft-model' },
  { id: 'lookahead', family: 'hasten', lossy: false, strategy: 'lookahead' },
  { id: 'early-exit', family: 'hasten', lossy: true, strategy: 'early-exit' },
];
const items = [item('a', 'line-start'), item('b', 'repetitive')];
const records: HeadlineRecord[] = [
  rec('autoregressive', items[0]!, [1, 2, 3, 4], 40), rec('autoregressive', items[1]!, [5, 6, 7, 8], 40),
  // Twice as fast, identical, 2 steps of 2 drafted of which 1 accepted.
  rec('prompt-lookup', items[0]!, [1, 2, 3, 4], 20, { steps: 2, drafted: 4, accepted: 2 }), rec('prompt-lookup', items[1]!, [5, 6, 7, 8], 20, { steps: 2, drafted: 4, accepted: 2 }),
  // Faster still but fails on one prompt: not eligible as "best lossless".
  rec('draft-model', items[0]!, [1, 2, 3, 4], 10), rec('draft-model', items[1]!, [], 0, { error: 'draft exploded' }),
  // Fast but differs on one prompt: not lossless.
  rec('lookahead', items[0]!, [1, 2, 3, 4], 10), rec('lookahead', items[1]!, [5, 6, 0, 8], 10),
  rec('early-exit', items[0]!, [1, 2, 9, 9], 20), rec('early-exit', items[1]!, [5, 6, 7, 8], 20),
];
const decode = (ids: number[]) => (ids[0] === 1 ? 'x\n' : 'z\n');
const rows = tabulateHeadline(records, systems, items, decode);
const row = (s: string, w = 'all') => rows.find((r) => r.system === s && r.workload === w)!;

test('headline rows: speed-up on the same prompts, acceptance, identity and failures', () => {
  assert.equal(row('prompt-lookup').speedup, 2);
  assert.equal(row('prompt-lookup').acceptanceRate, 0.5);
  assert.equal(row('prompt-lookup').meanAcceptedPerStep, 1);
  assert.equal(row('prompt-lookup').verifyWidth, 3);
  assert.equal(row('prompt-lookup').identical, 2);
  const dm = row('draft-model');
  assert.equal(dm.failed, 1);
  assert.equal(dm.firstError, 'draft exploded');
  // Speed-up only over the prompts that ran: 4 tokens in 10 ms against 4 in 40 ms.
  assert.equal(dm.speedup, 4);
  assert.equal(row('lookahead').identical, 1);
  assert.equal(row('early-exit').agreement, 6 / 8);
  assert.equal(row('early-exit', 'line-start').lineExact, 1);
  assert.equal(row('autoregressive').acceptanceRate, null);
});

test('auto against the best single lossless strategy per workload: by tok/s, by steps, and prompts with the same work', () => {
  const withAuto: HeadlineSystem[] = [...systems, { id: 'auto', family: 'hasten', lossy: false, strategy: 'auto' }];
  const autoRecords = [
    ...records,
    // The same work as prompt lookup on the line-start prompt, a little slower; other work (one more step) on the repetitive one.
    rec('auto', items[0]!, [1, 2, 3, 4], 25, { steps: 2, drafted: 4, accepted: 2 }), rec('auto', items[1]!, [5, 6, 7, 8], 20, { steps: 3, drafted: 4, accepted: 1 }),
  ];
  const vs = autoVsBest(tabulateHeadline(autoRecords, withAuto, items, decode), autoRecords);
  const of = (w: string) => vs.find((v) => v.workload === w)!;
  // Draft model failed once and lookahead differs once over all prompts: prompt lookup is the best lossless one there.
  assert.equal(of('all').best, 'prompt-lookup');
  assert.equal(of('all').ratio, (8 / 45) / (8 / 40));
  assert.deepEqual([of('all').autoSteps, of('all').bestSteps, of('all').sameWork, of('all').runs], [5, 4, 1, 2]);
  // Per workload the best is taken among that workload's lossless rows: on line-start, draft model and lookahead
  // (10 ms each, the first listed is named) ran and were identical.
  assert.equal(of('line-start').best, 'draft-model');
  assert.equal(of('line-start').ratio, 10 / 25);
  assert.equal(of('repetitive').best, 'prompt-lookup');
  assert.equal(of('repetitive').ratio, 1);
  assert.equal(of('repetitive').sameWork, 0);
  const md = renderReport({ ...data(), headline: { items: ['a', 'b'], maxNewTokens: 4, rows: tabulateHeadline(autoRecords, withAuto, items, decode), records: autoRecords } }, STRATEGIES);
  assert.match(md, /### Auto/);
  assert.match(md, /\| repetitive \| prompt-lookup \| 200\.0 \| 200\.0 \| 1\.00× \| 1\.00× \| 1\.00-1\.00× \| 3 \/ 2 \| 0\/1 \|/);
  // Per prompt: prompt lookup's time over auto's, 20/25 and 20/20; the median of two is their mean.
  assert.equal(of('all').medianRatio, (0.8 + 1) / 2);
  // Resampling two prompts gives medians of 0.8, 0.9 and 1: the interval spans them.
  assert.deepEqual(of('all').medianRange, [0.8, 1]);
  const check = targets({ ...data(), headline: { items: ['a', 'b'], maxNewTokens: 4, rows: tabulateHeadline(autoRecords, withAuto, items, decode), records: autoRecords } }).at(-1)!;
  assert.equal(check.measured, '0.40×');
  assert.match(check.detail, /^line-start: draft-model, per-prompt median 0\.40× \(95% interval 0\.40-0\.40×\); target passes auto \/ best 5 \/ 6, same work on 0\/2 prompts/);
});

test('the headline order is balanced: over 2 × systems prompts each system runs in each position equally often and directly after each other exactly twice', () => {
  for (const m of [2, 3, 4, 11, 14, 15]) {
    const ids = Array.from({ length: m }, (_, i) => `s${i}`);
    const after = new Map<string, number>();
    const at = new Map<string, number>();
    for (let n = 0; n < 2 * m; n++) {
      const o = systemOrder(ids, n);
      assert.deepEqual([...o].sort(), [...ids].sort(), `prompt ${n} runs every system once`);
      o.forEach((s, p) => at.set(`${s}@${p}`, (at.get(`${s}@${p}`) ?? 0) + 1));
      for (let i = 1; i < m; i++) after.set(`${o[i - 1]}>${o[i]}`, (after.get(`${o[i - 1]}>${o[i]}`) ?? 0) + 1);
    }
    assert.equal(after.size, m * (m - 1), `${m} systems: every ordered pair occurs`);
    assert.deepEqual([...new Set(after.values())], [2], `${m} systems: each pair twice`);
    assert.deepEqual([...new Set(at.values())], [2], `${m} systems: each position twice`);
  }
  // The order the last full report used: auto followed autoregressive decoding on every even prompt, prompt lookup never.
  const ids = ['ar', 'auto', 'pl', 'la', 'rt', 'dm'];
  const follows = (s: string, prev: string) => Array.from({ length: 12 }, (_, n) => systemOrder(ids, n)).filter((o) => o[o.indexOf(s) - 1] === prev).length;
  assert.equal(follows('auto', 'ar'), follows('pl', 'ar'));
});

test('verification cost interpolates and extrapolates', () => {
  const cost: VerifyCost = { model: 'm', past: 10, repeats: 1, points: [1, 1.1, 1.3, 1.4].map((r, i) => ({ T: i + 1, medianMs: r, relative: r })) };
  assert.equal(costAt(cost, 1), 1);
  assert.ok(Math.abs(costAt(cost, 2.5) - 1.2) < 1e-12);
  assert.ok(Math.abs(costAt(cost, 8) - 2.8) < 1e-12);
});

function data(): ReportData {
  return {
    mode: 'quick', command: 'npm run bench -- --quick', started: '2026-11-27T10:00:00.000Z', seconds: 60,
    machine: { cpu: 'cpu', cores: 2, memoryGb: 24, node: 'v20', platform: 'linux x64', loadAverageStart: 0, loadAverageEnd: 0 },
    threads: 1, plan: {} as ReportData['plan'], hasten: { target: 't', draft: 'd', settings: 's' },
    peers: [{ peer: 'llama.cpp', available: false, message: 'node-llama-cpp is not installed: run `npm run bench:peers`', systems: [] }],
    headline: { items: ['a', 'b'], maxNewTokens: 4, rows, records },
    errors: [{ section: 'exp3', error: 'the CMLM is missing' }], plots: {},
  };
}

test('targets take the best strategy that was lossless on every prompt, and say what was not measured', () => {
  const t = targets(data());
  assert.equal(t[0]!.measured, '2.00×');
  assert.match(t[0]!.detail, /^prompt-lookup/);
  assert.equal(t[0]!.met, false);
  assert.equal(t[1]!.met, null);
  assert.match(t[1]!.detail, /llama\.cpp peer not run/);
});

test('the report names failed runs, failed sections and missing peers with their fixes', () => {
  const md = renderReport(data(), STRATEGIES);
  assert.match(md, /draft exploded/);
  assert.match(md, /\*\*exp3\*\*: the CMLM is missing/);
  assert.match(md, /llama\.cpp\*\*: not run\. node-llama-cpp is not installed: run `npm run bench:peers`/);
  assert.match(md, /\| lookahead \| all \|.*NO \(1\/2\)/);
  assert.match(md, /\| prompt-lookup \| all \|.*yes \(2\/2\)/);
});

test('npm run bench -- --quick writes REPORT.md, report.json and every plot', { timeout: 20 * 60_000 }, () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'hasten-report-'));
  try {
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench', 'report.ts'), '--quick', '--out', out], { cwd: ROOT, encoding: 'utf8', timeout: 19 * 60_000 });
    assert.equal(r.status, 0, r.stderr.slice(-3000));
    const md = fs.readFileSync(path.join(out, 'REPORT.md'), 'utf8');
    for (const h of ['## Targets', '## Headline', '## Physical limit', '## Experiment 1', '## Experiment 2', '## Experiment 3', '## Systems and settings']) assert.ok(md.includes(h), `REPORT.md lacks ${h}`);
    const json = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8')) as ReportData;
    // Every lossless strategy of ours ran and matched autoregressive decoding token for token.
    for (const r of json.headline!.rows.filter((x) => x.family === 'hasten' && !x.lossy && x.workload === 'all')) {
      assert.equal(r.failed, 0, `${r.system}: ${r.firstError}`);
      assert.equal(r.identical, r.runs, `${r.system} differs from autoregressive decoding`);
    }
    assert.ok(json.limit!.target.points.length === 32);
    assert.ok(json.exp1!.points.length > 0 && json.exp2!.points.length > 0 && json.exp3!.rows.length > 0);
    assert.ok(json.latency!.samples > 0);
    // The graph builder's sections: the shipped fast graph is lean, and every fp16-weight graph (the
    // torch export, the builder's standard graph, its fast graphs) writes the same greedy tokens.
    const g = json.graphs!;
    const kernels = (graph: string) => g.kernels.find((k) => k.graph === graph)!.kernelsPerStep;
    assert.ok(kernels('builder fast fp16') <= 100, `${kernels('builder fast fp16')} kernels a step`);
    for (const id of ['builder standard', 'fast fp16', 'fast fp32']) {
      const r = g.rows.find((x) => x.system === id && x.workload === 'all')!;
      assert.equal(r.failed, 0, `${id}: ${r.firstError}`);
      assert.equal(r.identical, r.runs, `${id} differs from ${g.base}`);
    }
    assert.deepEqual(g.quality.map((q) => q.dtype).sort(), ['fp16', 'fp32', 'int4', 'int8']);
    assert.ok(json.standin!.points.some((p) => p.system === 'hasten') && json.standin!.builds.length === 2);
    // Typing: the bundled target, and the stand-in in three prompt layouts (prefix, middle as before the anchor, middle anchored), each to the token cap and to the true line's length, typed through the file on a reused cache after a cold first completion; the toy preset loaded in its own process.
    const typing = json.typing!;
    assert.deepEqual(typing.errors, []);
    assert.equal(typing.models.length, 7);
    assert.deepEqual(typing.models.slice(1, 4).map((m) => [m.cursorLine, m.anchorChars === 0 ? 'line' : 'anchored']), [['prefix', 'anchored'], ['middle', 'line'], ['middle', 'anchored']]);
    for (const m of typing.models) {
      assert.ok(m.keys.samples > 0 && m.cold.promptTokens > 0 && m.keys.p95Ms >= m.keys.p50Ms, JSON.stringify(m));
      assert.ok(m.keys.fedP50! >= 1 && m.keys.fedP95! >= m.keys.fedP50! && m.keys.fedMax! >= m.keys.fedP95!, `${m.name}: tokens fed per key`);
      assert.ok(m.keys.meanReusedTokens > 0 && m.keys.meanReusedTokens < m.keys.meanPromptTokens, `${m.name} reuses part of each prompt`);
    }
    assert.ok(typing.presets.length === 1 && typing.presets[0]!.rssMb > 0 && typing.presets[0]!.loadMs > 0);
    for (const h of ['## The graph builder on the bundled target', '## Real size', '### The graph builder\'s targets', '## Typing']) assert.ok(md.includes(h), `REPORT.md lacks ${h}`);
    for (const name of ['headline-speedup.svg', 'limit-verify-cost.svg', 'exp1-acceptance.svg', 'exp1-speedup.svg', 'exp2-pareto.svg', 'exp2-exact.svg', 'exp3-latency.svg', 'exp3-quality.svg']) {
      assert.match(fs.readFileSync(path.join(out, name), 'utf8'), /^<svg/, name);
    }
    // Under CI the peers are installed (.ci/run), so they must have run too.
    if (process.env.CI) {
      assert.deepEqual(json.peers.filter((p) => !p.available).map((p) => p.peer), []);
      assert.deepEqual(json.errors, []);
    }
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});
