import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_STEPS, MAX_TOKEN_CHARS } from '../../src/protocol';
import { acceptedPath, estimateSpeedup, historyEntry, viewTrace, type TraceSource } from '../../src/ui/visualiser/view';
import { cut, shortProb, visible } from '../../webview/format';
import { layoutTree, NODE_H, NODE_W, treeData } from '../../webview/layout';
import { exitBuckets, exitColour } from '../../webview/svg';
import { chainTrace, earlyExitTrace, maskPredictTrace, node, selfSpecTrace, step, trace, treeTrace } from './helpers/traces';
import { summarise, type CompletionTrace } from '../../src/engine';

const source = (t: CompletionTrace, extra: Partial<TraceSource> = {}): TraceSource => ({
  trace: t, uri: 'file:///w/src/main.ts', languageId: 'typescript', shown: 'x = 2', firstMs: 12.345, totalMs: 40, at: 0, prefetch: false, live: false, ...extra,
});

test('a chain trace: positions follow the output, the accepted path is in order, recovered and bonus tokens end each step', () => {
  const v = viewTrace(source(chainTrace()));
  assert.deepEqual(v.steps[0]!.nodes.map((n) => n.position), [0, 1, 2, 3]);
  assert.equal(v.steps[0]!.bonus!.position, 2);
  assert.equal(v.steps[0]!.accepted, 2);
  assert.deepEqual(v.steps[1]!.nodes.map((n) => n.position), [3, 4]);
  assert.equal(v.steps[1]!.bonus!.position, 5);
  assert.deepEqual(v.strip.map((t) => [t.text, t.position, t.origin]), [
    ['x', 0, 'accepted'], [' =', 1, 'accepted'], [' 2', 2, 'recovered'], ['\n', 3, 'accepted'], ['}', 4, 'accepted'], ['\n', 5, 'bonus'],
  ]);
  assert.equal(v.file, 'main.ts');
  assert.equal(v.firstMs, 12.3);
});

test('the summary counts drafted and accepted nodes, acceptance, tokens per step and per second', () => {
  const s = viewTrace(source(chainTrace())).summary;
  assert.equal(s.drafted, 6);
  assert.equal(s.accepted, 4);
  assert.equal(s.acceptanceRate, 0.6667);
  assert.equal(s.meanAcceptedPerStep, 2);
  assert.equal(s.tokensPerStep, 3);
  assert.equal(s.tokensPerSecond, 250); // 6 tokens in 2 × 12 ms
  assert.equal(s.maxExitLayer, null);
  assert.equal(s.strategy, 'draft-model');
});

test('speed-up estimate: tokens per step × target pass ÷ step cost, and it says so', () => {
  // 3 tokens per step, verify 10 ms standing in for a target pass, 12 ms per step: 2.5×.
  const e = estimateSpeedup(chainTrace().steps, 3);
  assert.ok(Math.abs(e.value! - 2.5) < 1e-9, String(e.value));
  assert.match(e.method, /tokens per step .* target pass .* step incl\. draft/);
  assert.match(e.method, /verify pass as the cost of one target pass/);
  // An undrafted step measures the target pass directly: 1 token in 8 ms.
  const mixed = [...chainTrace().steps, step(2, [], { token: 1, text: 'z', prob: 1, kind: 'bonus' }, { draft: 0, verify: 8 })];
  const m = estimateSpeedup(mixed, 7 / 3);
  assert.ok(Math.abs(m.value! - ((7 / 3) * 8) / ((12 + 12 + 8) / 3)) < 1e-9);
  assert.match(m.method, /measured on 1 undrafted step/);
});

test('one source: the panel\'s tokens per step is the engine summary\'s, in the summary and in the estimate\'s words alike', () => {
  // The first token comes from prefill, not a step: 7 tokens over 4 steps of 1, 2, 2 and 1 emitted.
  const t = trace([
    step(0, [], { token: 1, text: 'a', prob: 1, kind: 'bonus' }, { draft: 0, verify: 5 }),
    step(1, [node('b', -1, 'accepted')], { token: 3, text: 'c', prob: 1, kind: 'bonus' }, { draft: 1, verify: 6 }),
    step(2, [node('d', -1, 'accepted')], { token: 5, text: 'e', prob: 1, kind: 'bonus' }, { draft: 1, verify: 6 }),
    step(3, [], { token: 6, text: 'f', prob: 1, kind: 'bonus' }, { draft: 0, verify: 5 }),
  ], { tokens: 7 });
  const v = viewTrace(source(t)).summary;
  const engine = summarise(t);
  assert.equal(v.tokensPerStep, Number(engine.tokensPerStep.toFixed(4)));
  assert.equal(v.tokensPerSecond, Number(engine.tokensPerSecond.toFixed(1)));
  assert.equal(v.acceptanceRate, engine.acceptanceRate);
  assert.match(v.speedup.method, new RegExp(`tokens per step \\(${v.tokensPerStep.toFixed(2)}\\)`));
});

test('speed-up estimate: autoregressive is 1×, early exit compares layers, Mask-Predict and empty traces give none', () => {
  const ar = trace([0, 1, 2].map((i) => step(i, [], { token: i, text: 'a', prob: 1, kind: 'bonus' }, { draft: 0, verify: 5 })), { strategy: 'autoregressive' });
  assert.equal(estimateSpeedup(ar.steps, 1).value, 1);
  const ee = estimateSpeedup(earlyExitTrace([8, 4, 4, 8]).steps, 1);
  assert.equal(ee.value, 8 / 6);
  assert.match(ee.method, /deepest exit layer seen \(8\) ÷ mean exit layer \(6\.0\)/);
  assert.equal(estimateSpeedup(maskPredictTrace().steps, 1).value, null);
  assert.equal(estimateSpeedup([], 0).value, null);
});

test('a token tree: the layout input hangs the recovered token off the end of the accepted path', () => {
  const v = viewTrace(source(treeTrace()));
  const data = treeData(v.steps[0]!);
  const by = new Map(data.map((d) => [d.id, d]));
  assert.equal(by.get('r')!.kind, 'root');
  assert.deepEqual(['n0', 'n1', 'n2', 'n3', 'n4'].map((id) => by.get(id)!.parentId), ['r', 'r', 'n0', 'n0', 'n2']);
  assert.equal(by.get('b')!.parentId, 'n2');
  assert.equal(by.get('b')!.kind, 'recovered');
  assert.deepEqual(data.map((d) => d.kind).filter((k) => k === 'accepted').length, 2);
  // Positions: depth 1 is position 0, and the recovered token takes position 2.
  assert.deepEqual(v.steps[0]!.nodes.map((n) => n.position), [0, 0, 1, 1, 2]);
  assert.equal(by.get('b')!.position, 2);
  assert.deepEqual(acceptedPath(treeTrace().steps[0]!.nodes), [0, 2]);
});

test('the tree layout grows left to right by depth and no two boxes overlap', () => {
  const l = layoutTree(viewTrace(source(treeTrace())).steps[0]!);
  assert.equal(l.nodes.length, 7);
  assert.equal(l.links.length, 6);
  for (const n of l.nodes) {
    const same = l.nodes.filter((m) => m.depth === n.depth);
    for (const m of same) if (m !== n) assert.ok(Math.abs(m.y - n.y) >= NODE_H, `${n.id} and ${m.id} overlap`);
    assert.ok(n.x >= 0 && n.y >= 0 && n.x + NODE_W <= l.width && n.y + NODE_H <= l.height);
  }
  const x = (id: string) => l.nodes.find((n) => n.id === id)!.x;
  assert.ok(x('r') < x('n0') && x('n0') < x('n2') && x('n2') < x('b'));
  assert.equal(x('b'), x('n4'));
});

test('broken parents (forward, self or far negative) hang off the root instead of looping', () => {
  const t = trace([step(0, [node('a', 3, 'accepted'), node('b', 1, 'rejected'), node('c', -9, 'rejected')], null)]);
  const v = viewTrace(source(t));
  assert.deepEqual(v.steps[0]!.nodes.map((n) => n.parent), [-1, -1, -1]);
  assert.equal(layoutTree(v.steps[0]!).nodes.length, 4);
});

test('early exit: the strip carries each token\'s exit layer and the summary its mean and deepest layer', () => {
  const v = viewTrace(source(earlyExitTrace()));
  assert.deepEqual(v.strip.map((t) => t.exitLayer), [8, 3, 2, 8, 5, 3]);
  assert.ok(v.strip.every((t) => t.origin === 'bonus'));
  assert.equal(v.summary.maxExitLayer, 8);
  assert.equal(v.summary.meanExitLayer, 4.83);
  assert.equal(v.summary.acceptanceRate, null);
});

test('self-speculation: drafted-and-accepted tokens keep the draft exit layer, bonus and recovered the full depth', () => {
  const v = viewTrace(source(selfSpecTrace()));
  assert.deepEqual(v.strip.map((t) => [t.text, t.origin, t.exitLayer]), [
    ['if', 'accepted', 2], [' (', 'accepted', 2], ['y', 'recovered', 8], [')', 'accepted', 2], [' {', 'bonus', 8],
  ]);
});

test('Mask-Predict: every iteration starts at position 0 and the strip holds the last iteration only', () => {
  const v = viewTrace(source(maskPredictTrace()));
  assert.deepEqual(v.steps.map((s) => s.nodes[0]!.position), [0, 0, 0]);
  assert.deepEqual(v.strip.map((t) => t.text), ['a', 'b', 'c', 'd']);
  assert.deepEqual(v.steps.map((s) => s.remasked!.map((r) => r.position)), [[1, 2, 3], [3], []]);
});

test('exit-layer colours: one per layer when few, equal ranges when many', () => {
  assert.deepEqual(exitBuckets([8, 3, 3, 2]), [{ from: 2, to: 2, colour: 0 }, { from: 3, to: 3, colour: 1 }, { from: 8, to: 8, colour: 2 }]);
  const many = exitBuckets([1, 2, 3, 4, 5, 6, 7, 8]);
  assert.ok(many.length <= 6);
  assert.equal(many[0]!.from, 1);
  assert.equal(many[many.length - 1]!.to, 8);
  for (let l = 1; l <= 8; l++) assert.ok(exitColour(many, l) >= 0, `layer ${l} has a colour`);
  assert.equal(exitColour(many, undefined), -1);
  assert.deepEqual(exitBuckets([]), []);
});

test('large traces are capped: steps, token text, and the shown text', () => {
  const long = 'x'.repeat(500);
  const steps = Array.from({ length: MAX_STEPS + 44 }, (_, i) => step(i, [node(long, -1, 'accepted')], null));
  const v = viewTrace(source(trace(steps), { shown: long.repeat(10) }));
  assert.equal(v.steps.length, MAX_STEPS);
  assert.equal(v.truncatedSteps, 44);
  assert.equal(v.steps[0]!.nodes[0]!.text.length, MAX_TOKEN_CHARS);
  assert.ok(v.shown.length <= 2000);
  assert.ok(JSON.stringify(v).length < 200_000);
});

test('history entries name the completion, its strategy and file, and mark live decodes and prefetches', () => {
  const h = historyEntry(source(chainTrace(), { live: true, prefetch: true }));
  assert.equal(h.id, 7);
  assert.match(h.label, /^#7 \d\d:\d\d:\d\d draft-model · 6 tok · main\.ts · prefetch \(not shown\) · live$/);
  assert.equal(h.followed, false, 'an unseen prefetch is listed, never followed');
  const shown = historyEntry(source(chainTrace(), { prefetch: true, served: true }));
  assert.match(shown.label, /· prefetch, shown$/);
  assert.equal(shown.followed, true, 'a prefetch the user accepted into view is the suggestion on screen');
  assert.equal(historyEntry(source(chainTrace())).followed, true);
});

test('whitespace is made visible and labels are cut', () => {
  assert.equal(visible(' \n\t\r'), '␣⏎⇥␍');
  assert.equal(visible('a\u0001'), 'a\\x01');
  assert.equal(visible(''), '∅');
  assert.equal(cut('abcdef', 4), 'abc…');
  assert.equal(shortProb(0.934), '.93');
  assert.equal(shortProb(null), '–');
  assert.equal(shortProb(0.999), '1');
  assert.equal(shortProb(0.001), '<.01');
  assert.equal(shortProb(0), '.00');
});
