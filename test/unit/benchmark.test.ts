// "Run benchmark on the current file": where it measures, and how it sums up.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { benchmarkPoints, runBenchmark, summariseBenchmark, type PointResult } from '../../src/completion/benchmark';
import { GREEDY } from '../../src/engine';
import { FakeEngine } from './helpers/fakeEngine';

const file = Array.from({ length: 40 }, (_, i) => (i % 5 === 4 ? '' : `line ${i};`)).join('\n');

test('points are ends of non-blank lines past the first two, spread over the file', () => {
  const pts = benchmarkPoints(file, 4);
  assert.equal(pts.length, 4);
  for (const p of pts) {
    assert.ok(p.line >= 2);
    assert.equal(file[p.offset], '\n', 'at a line end');
    assert.notEqual(file.split('\n')[p.line], '');
  }
  assert.ok(pts[3]!.line - pts[0]!.line > 20, 'spread out');
  assert.deepEqual(benchmarkPoints('a\nb', 4), []);
});

test('each point runs autoregressive then the strategy, and the summary compares them', async () => {
  const engine = new FakeEngine((r) => (r.strategy === 'autoregressive' ? ['a', 'b', 'c', 'd'] : ['ab', 'cd']), 1);
  const results = await runBenchmark(engine, file, benchmarkPoints(file, 2), 'draft-model', { maxNewTokens: 8, sampling: GREEDY });
  assert.equal(results.length, 2);
  assert.deepEqual(engine.calls.map((c) => c.strategy), ['autoregressive', 'draft-model', 'autoregressive', 'draft-model']);
  assert.ok(results.every((r) => r.baseline.text === 'abcd' && r.candidate.text === 'abcd'));
  assert.equal(summariseBenchmark(results).identical, 2);
});

test('the summary: speed-up is tokens per second over the baseline; different outputs are counted', () => {
  const r = (ms: number, text: string): PointResult['baseline'] => ({ text, tokens: 10, ms, strategy: 'x' });
  const s = summariseBenchmark([
    { offset: 0, line: 2, baseline: r(100, 'a'), candidate: { ...r(50, 'a'), strategy: 'auto:draft-model' } },
    { offset: 9, line: 9, baseline: r(100, 'b'), candidate: { ...r(50, 'c'), strategy: 'auto:prompt-lookup' } },
  ]);
  assert.equal(s.speedup, 2);
  assert.equal(s.identical, 1);
  assert.equal(s.baselineTps, 100);
  assert.deepEqual(s.strategies, ['auto:draft-model', 'auto:prompt-lookup']);
});

test('an aborted benchmark stops between points', async () => {
  const ctrl = new AbortController();
  const engine = new FakeEngine(() => ['x'], 1);
  const results = await runBenchmark(engine, file, benchmarkPoints(file, 4), 'auto', { maxNewTokens: 4, sampling: GREEDY, signal: ctrl.signal }, (n) => n === 1 && ctrl.abort());
  assert.equal(results.length, 1);
});
