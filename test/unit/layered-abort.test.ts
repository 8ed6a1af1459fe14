// A request on the layered model (early exit, self-speculation) aborted at any await leaves slots that
// some layers ran and others did not, none of them committed. The next request on the same cache (no
// reset between: the editor aborts a prefetch and asks again) must roll them back and decode exactly
// what a fresh cache decodes. privacy.test.ts hit this at random ("layer N holds X slots; its call must
// continue at slot X"); here each abort point is hit on purpose, by firing the signal from inside the
// model at a chosen call.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { CompletionTrace, DecodeSettings, Engine, Strategy } from '../../src/engine';
import { isAbortError } from '../../src/engine/errors';
import { LayeredModel } from '../../src/engine/model/layered';
import { loadWorkloads } from '../../bench/workloads';
import { finalTrace } from './helpers/complete';

const TARGET = path.resolve(__dirname, '..', '..', 'models', 'hasten-target');
const MAX_NEW = 16;

describe('the layered cache after an aborted request', () => {
  const item = loadWorkloads(['repetitive'], 1)[0]!;
  let engine: Engine;
  let model: LayeredModel;
  let want: number[];

  const run = (strategy: Strategy, signal?: AbortSignal): Promise<CompletionTrace> =>
    finalTrace(engine, { prefix: item.prefix, suffix: item.suffix, strategy, maxNewTokens: MAX_NEW, ...(signal ? { signal } : {}) });

  /**
   * Runs `strategy` and fires its signal from inside the model, right after the `n`th call of `method`
   * (counting `layer` calls for layer `at` only). Prefill calls each layer and the head once, so n = 2
   * is the first decoding step's. Returns whether the request ended in an abort.
   */
  async function abortAt(strategy: Strategy, settings: Partial<DecodeSettings>, maxNewTokens: number, method: 'layer' | 'logits', n: number, at?: number): Promise<boolean> {
    const ac = new AbortController();
    const original = model[method];
    let calls = 0;
    model[method] = (async (...args: never[]) => {
      const r = await (original as (...a: never[]) => Promise<unknown>).apply(model, args);
      if ((at === undefined || args[0] === at) && ++calls === n) ac.abort();
      return r;
    }) as never;
    try {
      for await (const u of engine.complete({ prefix: item.prefix, suffix: item.suffix, strategy, maxNewTokens, settings, signal: ac.signal })) if (u.done) return false;
      return false;
    } catch (err) {
      if (!isAbortError(err)) throw err;
      return true;
    } finally {
      model[method] = original as never;
    }
  }

  before(async () => {
    engine = await Engine.load({ modelDir: TARGET, draftDir: null, runtime: { threads: 1 } });
    model = await engine.exits.layered();
    want = (await run('autoregressive')).output;
    assert.ok(want.length >= 4, `the reference completion is too short to abort inside (${want.length} tokens)`);
  });
  after(async () => engine.dispose());

  // Self-speculation at a fixed exit layer E = 4; a fresh drafter per draft length, so the first step drafts exactly k tokens.
  const E = 4;
  const cases: { name: string; strategy: Strategy; settings: Partial<DecodeSettings>; maxNew: number; method: 'layer' | 'logits'; n: number; at?: number }[] = [
    // Drafting (k = 6): the first draft token went through layers 0..E-1 and the head; the signal stops the second.
    { name: 'self-speculation aborted while drafting', strategy: 'self-speculation', settings: { selfSpecLayer: E, selfSpecAdapt: false, draftLength: 6 }, maxNew: MAX_NEW, method: 'logits', n: 2 },
    // Verification (a budget of one draft token): the draft token went through layers 0..E-1, and the
    // signal stops the verify pass after it ran them for the last draft token, before layers E..L-1.
    { name: 'self-speculation aborted between the verify pass\'s two halves', strategy: 'self-speculation', settings: { selfSpecLayer: E, selfSpecAdapt: false, draftLength: 5 }, maxNew: 3, method: 'logits', n: 2 },
    // Early exit at full depth: the first decoded token went through layers 0 and 1 only.
    { name: 'early exit aborted between layers', strategy: 'early-exit', settings: { exitThreshold: 1 }, maxNew: MAX_NEW, method: 'layer', n: 2, at: 1 },
  ];
  for (const c of cases) {
    test(`${c.name}: the next request on the same cache decodes as a fresh one`, async () => {
      await engine.reset();
      assert.equal(await abortAt(c.strategy, c.settings, c.maxNew, c.method, c.n, c.at), true, 'the abort point was reached');
      // No reset: the editor's next request (or the prefetch's replacement) reuses the cache.
      const next = await run('self-speculation');
      assert.deepEqual(next.output, want);
      assert.ok(next.reusedTokens > 0, 'the committed prompt was reused, not thrown away');
      const calm = await run('early-exit');
      assert.ok(calm.tokens > 0);
      assert.deepEqual((await run('self-speculation')).output, want);
    });
  }
});
