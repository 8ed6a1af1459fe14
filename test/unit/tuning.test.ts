// The tuning prompts (bench/tuning.json) that policies are measured on: cut from code that is neither
// trained on, nor held out for the benchmark, nor kept for independent evaluation; and auto's priors are
// the speed-ups that the committed run on them recorded (bench/report/auto-priors.json).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { PRIOR_SPEEDUP, type Strategy } from '../../src/engine/strategies';
import { loadWorkloads, promptSetFile, TUNING_FILE, WORKLOAD_KINDS, WORKLOADS_FILE } from '../../bench/workloads';

const ROOT = path.resolve(__dirname, '..', '..');
const json = <T>(rel: string): T => JSON.parse(fs.readFileSync(path.join(ROOT, rel), 'utf8')) as T;

/** `npm:koa@3.3.0/lib/x.js` → `npm:koa`; `python:lib2to3@3.11.7/fixer_util.py` → `python:lib2to3`; `hasten:typescript/src/x.ts` → `hasten:typescript`. */
const pkgOf = (source: string): string => source.split('/')[0]!.replace(/@[^@]*$/, '');

test('the tuning prompts come from code neither trained on, held out nor kept for evaluation', () => {
  const tuning = loadWorkloads(WORKLOAD_KINDS, Infinity, TUNING_FILE);
  const heldout = loadWorkloads(WORKLOAD_KINDS, Infinity, WORKLOADS_FILE);
  assert.equal(tuning.length, heldout.length, 'as many prompts as the benchmark');
  for (const k of WORKLOAD_KINDS) assert.equal(tuning.filter((i) => i.kind === k).length, heldout.filter((i) => i.kind === k).length, k);

  const corpus = json<{ packages: { pkg: string }[] }>('models/toolchain/corpus-summary.json').packages.map((p) => pkgOf(p.pkg));
  assert.ok(corpus.includes('python:json') && corpus.includes('npm:koa'), 'the corpus summary names its packages');
  const sources = json<{ evaluationOnly: { npm: string[]; debian: string[]; pathNames: string[] }; python: { exclude: string[] } }>('models/toolchain/sources.json');
  const evalNames = new Set([...sources.evaluationOnly.npm, ...sources.evaluationOnly.debian, ...sources.evaluationOnly.pathNames].map((n) => n.toLowerCase()));
  const packages = new Set(tuning.map((i) => pkgOf(i.source)));
  assert.ok(packages.size >= 2);
  for (const p of packages) {
    assert.ok(!corpus.includes(p), `${p} is in the training or held-out corpus`);
    const [kind, name] = p.split(':') as [string, string];
    if (kind === 'python') assert.ok(sources.python.exclude.includes(name), `python ${name} is excluded from the corpus`);
    else assert.equal(kind, 'hasten', `${p}: only Hasten's own source besides excluded Python`);
  }
  const heldoutSources = new Set(heldout.map((i) => i.source));
  for (const it of tuning) {
    assert.ok(!heldoutSources.has(it.source));
    for (const part of it.source.toLowerCase().split(/[/.]/)) assert.ok(!evalNames.has(part), `${it.source} names an evaluation-only package`);
    assert.ok(it.truth.trim().length > 0 && it.prefix.length > 0, it.id);
    assert.ok(it.license.length > 0, `${it.id} records its licence`);
  }
});

test("auto's priors are the speed-ups of the committed run on the tuning prompts", () => {
  const run = json<{ prompts?: string; records: { strategy: Strategy; tokens: number; decodeMs: number; output: number[]; item: string }[] }>('bench/report/auto-priors.json');
  assert.equal(run.prompts, 'tuning');
  const tuningIds = new Set(loadWorkloads(WORKLOAD_KINDS, 30, TUNING_FILE).map((i) => i.id));
  const rate = new Map<Strategy, { tokens: number; ms: number }>();
  for (const r of run.records) {
    assert.ok(tuningIds.has(r.item), `${r.item} is one of the first 30 tuning prompts of its kind`);
    const t = rate.get(r.strategy) ?? { tokens: 0, ms: 0 };
    rate.set(r.strategy, { tokens: t.tokens + r.tokens, ms: t.ms + r.decodeMs });
  }
  const speed = (s: Strategy): number => rate.get(s)!.tokens / rate.get(s)!.ms;
  const measured = [...rate.keys()].filter((s) => s !== 'autoregressive');
  assert.equal(measured.length, 7);
  for (const s of measured) {
    assert.ok(PRIOR_SPEEDUP[s] !== undefined, `${s} has a prior`);
    assert.ok(Math.abs(PRIOR_SPEEDUP[s]! - speed(s) / speed('autoregressive')) < 0.006, `${s}: prior ${PRIOR_SPEEDUP[s]} vs measured ${(speed(s) / speed('autoregressive')).toFixed(3)}`);
  }
  // Lossless: every strategy wrote what autoregressive decoding wrote on each prompt.
  const ar = new Map(run.records.filter((r) => r.strategy === 'autoregressive').map((r) => [r.item, r.output]));
  for (const r of run.records) assert.deepEqual(r.output, ar.get(r.item), `${r.strategy} on ${r.item}`);
});

test('--prompts names a prompt set: heldout (the default) or tuning, anything else is refused', () => {
  assert.equal(promptSetFile('heldout'), WORKLOADS_FILE);
  assert.equal(promptSetFile('tuning'), TUNING_FILE);
  for (const bad of ['', 'toString', 'held-out', undefined, true]) assert.throws(() => promptSetFile(bad), /--prompts must be one of heldout, tuning/);
});
