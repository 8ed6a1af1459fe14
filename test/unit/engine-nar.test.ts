// Non-autoregressive decoding: lookahead (Jacobi) decoding is lossless on held-out prompts, with
// and without tree attention; Mask-Predict batches its length candidates faithfully, follows the
// linear re-masking schedule, stops at an abort, and handles bad input; the quality metrics of
// experiment 3 give known values.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { CompletionTrace, CompletionUpdate, Engine, GREEDY, HastenError, Strategy } from '../../src/engine';
import { DecodeChunk } from '../../src/engine/decoders/common';
import { lookaheadParents, NgramPool } from '../../src/engine/decoders/lookahead';
import { maskPredict, refine, remaskCount, topLengths, leastConfident } from '../../src/engine/decoders/maskPredict';
import { depths } from '../../src/engine/model/causal';
import { CmlmModel } from '../../src/engine/model/cmlm';
import { DEFAULT_RUNTIME } from '../../src/engine/model/session';
import { buildPrompt } from '../../src/engine/prompt';
import { chrF, editSimilarity, exactMatch, levenshtein } from '../../bench/metrics';
import { loadWorkloads } from '../../bench/workloads';

const models = path.resolve(__dirname, '..', '..', 'models');
const TARGET = path.join(models, 'hasten-target');
const CMLM = path.join(models, 'hasten-cmlm');
const items = loadWorkloads(['line-start', 'mid-line', 'repetitive'], 18); // 54 held-out prompts
const MAX_NEW = 24;

async function complete(engine: Engine, prefix: string, suffix: string, strategy: Strategy, settings = {}, maxNewTokens = MAX_NEW): Promise<{ trace: CompletionTrace; updates: CompletionUpdate[] }> {
  await engine.reset();
  const updates: CompletionUpdate[] = [];
  for await (const u of engine.complete({ prefix, suffix, strategy, maxNewTokens, settings })) updates.push(u);
  return { trace: updates[updates.length - 1]!.trace, updates };
}

async function drain(gen: AsyncGenerator<DecodeChunk, CompletionTrace>): Promise<{ chunks: DecodeChunk[]; trace: CompletionTrace }> {
  const chunks: DecodeChunk[] = [];
  for (;;) {
    const r = await gen.next();
    if (r.done) return { chunks, trace: r.value };
    chunks.push(r.value);
  }
}

describe('lookahead decoding', () => {
  let engine: Engine;
  before(async () => {
    engine = await Engine.load({ modelDir: TARGET, draftDir: null, cmlmDir: null, runtime: { threads: 1 } });
  });
  after(async () => engine.dispose());

  test('the block is one tree: a node at (level j, column i) sees level 0 up to column i, then its own column', () => {
    const W = 4;
    const parents = lookaheadParents(3, W, [-1, 0, -1]);
    assert.equal(parents.length, 1 + 3 * W + 3);
    const ancestors = (n: number) => {
      const out: number[] = [];
      for (let p = parents[n]!; p !== -1; p = parents[p]!) out.push(p);
      return out.sort((a, b) => a - b);
    };
    const at = (j: number, i: number) => 1 + j * W + i;
    assert.deepEqual(ancestors(at(2, 1)), [0, at(0, 0), at(0, 1), at(1, 1)]);
    assert.deepEqual(ancestors(at(0, 3)), [0, at(0, 0), at(0, 1), at(0, 2)]);
    // Depth (hence the position id) of (j, i) is i + 1 + j; the trie hangs off the pending token.
    const d = depths(parents);
    assert.equal(d[at(2, 3)], 3 + 1 + 2);
    assert.deepEqual(parents.slice(1 + 3 * W), [0, 1 + 3 * W, 0]);
  });

  test('the n-gram pool keeps the most recent continuations per first token, without repeats', () => {
    const pool = new NgramPool(3, 2);
    pool.addSequence([1, 2, 3, 1, 4, 5, 1, 2, 3]);
    assert.deepEqual(pool.get(1), [[2, 3], [4, 5]]);
    pool.add([1, 6, 7]);
    assert.deepEqual(pool.get(1), [[6, 7], [2, 3]]);
    assert.deepEqual(pool.get(9), []);
  });

  test(`${items.length} held-out prompts: lookahead equals autoregressive greedy`, async () => {
    assert.ok(items.length >= 50);
    const mismatches: string[] = [];
    let accepted = 0;
    let steps = 0;
    let tokens = 0;
    for (const it of items) {
      const ar = (await complete(engine, it.prefix, it.suffix, 'autoregressive')).trace;
      assert.ok(ar.tokens > 0, `${it.id}: autoregressive produced nothing`);
      const la = (await complete(engine, it.prefix, it.suffix, 'lookahead')).trace;
      accepted += la.steps.reduce((n, st) => n + st.nodes.filter((x) => x.status === 'accepted').length, 0);
      steps += la.steps.length;
      tokens += la.tokens;
      if (JSON.stringify(la.output) !== JSON.stringify(ar.output)) mismatches.push(`${it.id}: ${JSON.stringify(la.output)} vs ${JSON.stringify(ar.output)}`);
    }
    assert.deepEqual(mismatches, []);
    // Verification really happened and saved passes (a lossless test that accepted nothing proves little).
    assert.ok(accepted > items.length, `only ${accepted} pool tokens accepted in total`);
    assert.ok(steps < tokens, `${steps} steps for ${tokens} tokens`);
  });

  test('without tree attention (batched paths) lookahead is still identical', async () => {
    const paths = await Engine.load({ modelDir: TARGET, draftDir: null, cmlmDir: null, runtime: { threads: 1 }, treeAttention: false });
    try {
      assert.equal(paths.target.nativeTree, false);
      for (const it of items.filter((_, i) => i % 9 === 0)) {
        const ar = (await complete(paths, it.prefix, it.suffix, 'autoregressive')).trace;
        const la = (await complete(paths, it.prefix, it.suffix, 'lookahead', { lookaheadWindow: 3, lookaheadNgram: 3 })).trace;
        assert.deepEqual(la.output, ar.output, it.id);
      }
    } finally {
      await paths.dispose();
    }
  });

  test('bad window settings are clear errors', async () => {
    await assert.rejects(complete(engine, 'def f(', '', 'lookahead', { lookaheadNgram: 1 }), (e: unknown) => e instanceof HastenError && /lookaheadNgram/.test(e.message));
    await assert.rejects(complete(engine, 'def f(', '', 'lookahead', { lookaheadWindow: 0 }), (e: unknown) => e instanceof HastenError && /lookaheadWindow/.test(e.message));
  });
});

describe('Mask-Predict', () => {
  let cmlm: CmlmModel;
  let context: number[];
  before(async () => {
    cmlm = await CmlmModel.open(CMLM, { ...DEFAULT_RUNTIME, threads: 1 });
    const it = items.find((x) => x.kind === 'mid-line')!;
    context = buildPrompt(cmlm.folder.tokenizer, it.prefix, it.suffix, { tokens: 96, suffixShare: 0.25 }).ids;
  });
  after(async () => cmlm.dispose());

  test('length candidates in one pass (packed or padded batch) equal running each candidate alone', async () => {
    const mask = cmlm.maskId;
    const spans = [[...new Array(5).fill(mask)], [300, mask, 301, mask, mask, 302, mask, mask, mask], new Array(16).fill(mask)];
    const alone = await Promise.all(spans.map((s) => cmlm.run(context, [s])));
    for (const layout of ['packed', 'batch'] as const) {
      const together = await cmlm.run(context, spans, undefined, layout);
      spans.forEach((s, b) => {
        const a = alone[b]!.span[0]!;
        const t = together.span[b]!;
        assert.equal(t.length, s.length * together.vocab);
        let worst = 0;
        for (let k = 0; k < a.length; k++) worst = Math.max(worst, Math.abs(a[k]! - t[k]!));
        assert.ok(worst < 1e-3, `${layout}, candidate ${b}: max |logit difference| ${worst}`);
      });
      assert.ok(together.length.every((v, k) => Math.abs(v - alone[0]!.length[k]!) < 1e-3), `${layout}: length logits`);
    }
    // And through the whole refinement: the batch's hypotheses are the lone runs' hypotheses.
    const lengths = [4, 9, 16];
    const last = async (ls: number[], layout: 'packed' | 'batch') => {
      let final;
      for await (const it of refine(cmlm, context, ls, 3, undefined, layout)) final = it;
      return final!.hypotheses.map((h) => h.tokens);
    };
    const single = (await Promise.all(lengths.map((l) => last([l], 'packed')))).map((h) => h[0]);
    assert.deepEqual(await last(lengths, 'packed'), single);
    assert.deepEqual(await last(lengths, 'batch'), single);
  });

  test('the bundled CMLM reads span token k at position k − 1: token 0 at <|fim_middle|>, whatever the span holds', async () => {
    assert.equal(cmlm.shift, true, 'models/hasten-cmlm/config.json span_logits_shift');
    const mask = cmlm.maskId;
    // Token 0's logits come from the context's last position, which sees only the context: the same for any span,
    // in either layout. Token 1's come from span position 0, which does see the span: they differ.
    const spans = [new Array(6).fill(mask), [300, mask, mask, mask, mask, mask]];
    for (const layout of ['packed', 'batch'] as const) {
      const out = await cmlm.run(context, spans, undefined, layout);
      const V = out.vocab;
      const row = (b: number, k: number) => out.span[b]!.subarray(k * V, (k + 1) * V);
      const diff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
      assert.ok(diff(row(0, 0), row(1, 0)) < 1e-4, `${layout}: token 0 depends on the span`);
      assert.ok(diff(row(0, 1), row(1, 1)) > 1e-2, `${layout}: token 1 ignores span position 0`);
    }
  });

  test('each iteration re-masks the n = L·(T−t)/T least confident tokens', async () => {
    assert.deepEqual([0, 1, 2, 3, 4].map((t) => remaskCount(16, 5, t)), [16, 12, 9, 6, 3]);
    assert.deepEqual([0, 1, 2, 3].map((t) => remaskCount(3, 4, t)), [3, 2, 1, 0]);
    assert.deepEqual(leastConfident([0.9, 0.1, 0.5, 0.1, 0.7], 3), [1, 2, 3]);
    const { chunks, trace } = await drain(maskPredict(cmlm, { prompt: context, maxNewTokens: 48, sampling: GREEDY }, { iterations: 5, lengthCandidates: 1, lengths: [16] }));
    assert.deepEqual(trace.steps.map((s) => s.remasked!.length), [16, 12, 9, 6, 3]);
    for (let t = 1; t < trace.steps.length; t++) {
      const before = trace.steps[t - 1]!.nodes.map((n) => n.draftProb!);
      const masked = new Set(trace.steps[t]!.remasked!.map((r) => r.position));
      trace.steps[t]!.remasked!.forEach((r) => assert.equal(r.confidence, before[r.position]));
      const maxMasked = Math.max(...[...masked].map((p) => before[p]!));
      const minKept = Math.min(...before.filter((_, p) => !masked.has(p)));
      assert.ok(maxMasked <= minKept, `iteration ${t}: re-masked a token more confident than one it kept`);
    }
    // Every pass streamed a revision; the last one is the output.
    assert.equal(chunks.length, 5);
    assert.ok(chunks.every((c) => c.revise === true));
    assert.deepEqual(chunks[chunks.length - 1]!.ids, trace.output);
  });

  test('an abort between iterations stops at once and returns nothing final', async () => {
    const ctrl = new AbortController();
    const gen = maskPredict(cmlm, { prompt: context, maxNewTokens: 48, sampling: GREEDY, signal: ctrl.signal }, { iterations: 6, lengthCandidates: 2 });
    const first = await gen.next();
    assert.equal(first.done, false);
    const runs = cmlm.runs;
    ctrl.abort();
    await assert.rejects(gen.next(), (e: unknown) => e instanceof Error && e.name === 'AbortError');
    assert.equal(cmlm.runs, runs, 'no further pass ran after the abort');
    assert.equal((await gen.next()).done, true);
  });

  test('the length head: top-l lengths within the limit; a first-ranked 0 means an empty span', () => {
    const logits = new Float32Array(49).map((_, i) => -Math.abs(i - 20));
    assert.deepEqual(topLengths(logits, 3, 48), [20, 19, 21]);
    assert.deepEqual(topLengths(logits, 3, 10), [10, 9, 8]);
    const zero = new Float32Array(49).fill(-5);
    zero[0] = 3;
    assert.deepEqual(topLengths(zero, 3, 48), [0]);
    zero[7] = 9;
    assert.deepEqual(topLengths(zero, 3, 48)[0], 7);
  });

  test('span length zero, and a budget of zero, give an empty completion, not a crash', async () => {
    const forced = await drain(maskPredict(cmlm, { prompt: context, maxNewTokens: 48, sampling: GREEDY }, { iterations: 4, lengthCandidates: 1, lengths: [0] }));
    assert.deepEqual(forced.trace.output, []);
    assert.equal(forced.trace.stopReason, 'eos');
    const none = await drain(maskPredict(cmlm, { prompt: context, maxNewTokens: 0, sampling: GREEDY }, { iterations: 4, lengthCandidates: 3 }));
    assert.deepEqual(none.trace.output, []);
    assert.equal(none.trace.stopReason, 'length');
  });

  test('predicted spans never exceed max_span or the token budget', async () => {
    const { trace } = await drain(maskPredict(cmlm, { prompt: context, maxNewTokens: 3, sampling: GREEDY }, { iterations: 2, lengthCandidates: 3 }));
    assert.ok(trace.steps.every((s) => s.nodes.length <= 3));
    assert.ok(trace.output.length <= 3);
  });
});

describe('Mask-Predict through the engine', () => {
  let engine: Engine;
  before(async () => {
    engine = await Engine.load({ modelDir: TARGET, draftDir: null, runtime: { threads: 1 } });
  });
  after(async () => engine.dispose());
  const it = items[0]!;

  test('the CMLM beside the target is found; each update revises the whole text', async () => {
    assert.ok(engine.available().includes('mask-predict'));
    const { trace, updates } = await complete(engine, it.prefix, it.suffix, 'mask-predict', { maskPredictIterations: 3, lengthCandidates: 2 });
    assert.equal(trace.strategy, 'mask-predict');
    assert.equal(updates.filter((u) => !u.done).length, 3);
    assert.ok(updates.filter((u) => !u.done).every((u) => u.revised === true && u.text === u.delta));
    assert.equal(updates[updates.length - 1]!.text, updates[updates.length - 2]!.text);
    assert.equal(trace.tokens, trace.output.length);
  });

  test('a span longer than the model allows is a clear error', async () => {
    await assert.rejects(complete(engine, it.prefix, it.suffix, 'mask-predict', { maskPredictLength: 100 }, 200),
      (e: unknown) => e instanceof HastenError && e.code === 'bad-request' && /max_span 48/.test(e.message));
    await assert.rejects(complete(engine, it.prefix, it.suffix, 'mask-predict', { maskPredictIterations: 0 }), (e: unknown) => e instanceof HastenError && /maskPredictIterations/.test(e.message));
  });

  test('an abort after the first revision ends the completion with no final update, and the engine stays usable', async () => {
    const ctrl = new AbortController();
    const seen: CompletionUpdate[] = [];
    await assert.rejects(async () => {
      for await (const u of engine.complete({ prefix: it.prefix, suffix: it.suffix, strategy: 'mask-predict', maxNewTokens: 24, settings: { maskPredictIterations: 8 }, signal: ctrl.signal })) {
        seen.push(u);
        ctrl.abort();
      }
    }, (e: unknown) => e instanceof Error && e.name === 'AbortError');
    // Decoding runs ahead of the reader by at most the pass in flight when the abort came.
    assert.ok(seen.length >= 1 && seen.length < 8, `${seen.length} updates`);
    assert.ok(seen.every((u) => !u.done));
    const again = await complete(engine, it.prefix, it.suffix, 'mask-predict', { maskPredictIterations: 2 });
    assert.equal(again.updates[again.updates.length - 1]!.done, true);
  });

  test('no CMLM: Mask-Predict is unavailable and asking for it is a clear error', async () => {
    const bare = await Engine.load({ modelDir: TARGET, draftDir: null, cmlmDir: null, runtime: { threads: 1 } });
    try {
      assert.ok(!bare.available().includes('mask-predict'));
      await assert.rejects(complete(bare, 'x = ', '\n', 'mask-predict'),
        (e: unknown) => e instanceof HastenError && e.code === 'variant-missing' && /defaults\.cmlm/.test(e.message));
    } finally {
      await bare.dispose();
    }
    const wrong = await Engine.load({ modelDir: TARGET, draftDir: null, cmlmDir: TARGET, runtime: { threads: 1 } });
    try {
      await assert.rejects(complete(wrong, 'x = ', '\n', 'mask-predict'), (e: unknown) => e instanceof HastenError && e.code === 'model-mismatch' && /hasten-cmlm/.test(e.message));
    } finally {
      await wrong.dispose();
    }
  });
});

describe('infilling metrics', () => {
  test('chrF matches sacreBLEU 2.6 sentence scores', () => {
    const cases: [string, string, number][] = [
      ['return x + 1', 'return x + 1', 100],
      ['return x', 'return x + 1', 71.56215465699471],
      ['foo(bar)', 'foo(baz)', 61.48809523809524],
      ['a', 'abc', 38.46153846153846],
      ['for i in range(n):', 'for j in range(m):', 53.328615828615824],
      ['abc', 'xyz', 0],
      ['', '', 0],
    ];
    for (const [h, r, want] of cases) assert.ok(Math.abs(chrF(h, r) - want) < 1e-9, `chrF(${JSON.stringify(h)}, ${JSON.stringify(r)}) = ${chrF(h, r)}, want ${want}`);
  });

  test('edit similarity and exact match', () => {
    assert.equal(levenshtein('kitten', 'sitting'), 3);
    assert.ok(Math.abs(editSimilarity('kitten', 'sitting') - (1 - 3 / 7)) < 1e-12);
    assert.equal(editSimilarity('', ''), 1);
    assert.equal(editSimilarity('abc', ''), 0);
    assert.equal(editSimilarity('x = 1', 'x = 1'), 1);
    assert.equal(exactMatch('x = 1', 'x = 1'), true);
    assert.equal(exactMatch('x = 1', 'x = 1 '), false);
  });
});
