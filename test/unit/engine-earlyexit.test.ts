// Early exit on the bundled target: the layered runtime equals the fused graph, skipped layers'
// K/V come out as CALM's propagation defines them, CALM at threshold 1 and self-speculation equal
// autoregressive greedy decoding, and bad settings fail naming the valid range.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { CompletionTrace, Engine, HastenError, Strategy } from '../../src/engine';
import { loadWorkloads } from '../../bench/workloads';
import { CausalModel } from '../../src/engine/model/causal';
import { ModelFolder, openModelFolder } from '../../src/engine/model/folder';
import { Hidden, KvLayout, LayeredModel, SkippedKv } from '../../src/engine/model/layered';
import { DEFAULT_RUNTIME, RuntimeOptions } from '../../src/engine/model/session';
import { exitPass, prefillLayered } from '../../src/engine/decoders/earlyExit';
import { confidence, cosine, topTwo } from '../../src/engine/decoders/confidence';
import { ExitLayerBandit } from '../../src/engine/drafters/layerSkip';
import { EXIT_CLASSIFIER_FILE, ExitClassifier } from '../../src/engine/model/exitClassifier';
import { DEFAULT_EXIT, earlyExitOptions } from '../../src/engine/exits';
import { writeSafetensors } from '../../src/build/safetensors';
import { finalTrace } from './helpers/complete';

const models = path.resolve(__dirname, '..', '..', 'models');
const TARGET = path.join(models, 'hasten-target');
const DRAFT = path.join(models, 'hasten-draft-s');
const rt: RuntimeOptions = { ...DEFAULT_RUNTIME, threads: 1 };
const TOL = 1e-4;
const PROMPT = [1, 300, 301, 302, 303, 304, 305, 3, 306, 307, 2, 308];

function maxDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Fused-graph logits of the last token of `tokens`, from scratch. */
async function fused(model: CausalModel, tokens: number[]): Promise<Float32Array> {
  model.reset();
  const l = await model.forward(tokens, null);
  model.commit(tokens.map((_, i) => i));
  return l.row(tokens.length - 1).slice();
}

/** One full-depth layered step for `token`; returns its logits. */
async function fullStep(m: LayeredModel, token: number): Promise<Float32Array> {
  const r = await exitPass(m, token, { measure: 'softmax', threshold: 1, minExitLayer: 1, skippedKv: 'propagate' });
  m.commit([token], [r.slot]);
  assert.equal(r.exitLayer, m.numLayers);
  return r.row;
}

/** The target's folder; 'growing' without its buffer blocks (what a device, or a build before them, runs). */
function targetFolder(kv: KvLayout): ModelFolder {
  const folder = openModelFolder(TARGET);
  if (kv === 'buffer') return folder;
  const { cpuBlocks: _, ...layered } = folder.files.layered!;
  return { ...folder, files: { ...folder.files, layered } };
}

for (const kv of ['buffer', 'growing'] as const) describe(`layered model, ${kv} K/V blocks`, () => {
  let layered: LayeredModel;
  let reference: CausalModel;
  before(async () => {
    const folder = targetFolder(kv);
    layered = await LayeredModel.open(folder, rt);
    reference = await CausalModel.open(folder, rt, false);
  });

  test(`on the CPU the bundled target runs the ${kv} blocks`, () => {
    assert.equal(layered.kvLayout, kv);
  });
  after(async () => {
    await layered.dispose();
    await reference.dispose();
  });

  test('equals the fused model.onnx within 1e-4 on prefill and decode', async () => {
    layered.reset();
    const pre = await prefillLayered(layered, PROMPT);
    assert.ok(maxDiff(pre.first.row(0), await fused(reference, PROMPT)) < TOL, 'prefill');
    const seq = [...PROMPT];
    for (const t of [309, 310, 311, 312]) {
      seq.push(t);
      const got = await fullStep(layered, t);
      const d = maxDiff(got, await fused(reference, seq));
      assert.ok(d < TOL, `decode after ${t}: diff ${d}`);
    }
  });

  test('a long prompt, decoding past a regrowth of the buffers, and a long block after a past equal model.onnx', async () => {
    layered.reset();
    const prompt = Array.from({ length: 380 }, (_, i) => 300 + ((i * 37) % 900));
    const pre = await prefillLayered(layered, prompt);
    assert.ok(maxDiff(pre.first.row(0), await fused(reference, prompt)) < TOL, 'prefill');
    const seq = [...prompt];
    for (const t of [309, 310, 311, 312, 313, 314]) {
      seq.push(t);
      const d = maxDiff(await fullStep(layered, t), await fused(reference, seq));
      assert.ok(d < TOL, `decode at ${seq.length}: diff ${d}`);
    }
    assert.equal(layered.cacheOf(0).key.dims[2], seq.length, 'the cache holds every token');
    // 40 more rows at once (a long block over a past): then one step.
    const more = Array.from({ length: 40 }, (_, i) => 320 + i);
    const slots = layered.allocate(more.length);
    await layered.run(0, layered.numLayers, slots, await layered.embed(more));
    layered.commit(more, slots);
    seq.push(...more, 315);
    const d = maxDiff(await fullStep(layered, 315), await fused(reference, seq));
    assert.ok(d < TOL, `after a long block: diff ${d}`);
  });

  test('rolled-back slots (holes in every layer) and compaction leave the logits of recomputation', async () => {
    layered.reset();
    await prefillLayered(layered, PROMPT);
    const seq = [...PROMPT];
    for (let k = 0; k < 6; k++) {
      // A token and seven rejected followers: holes enough to force a compaction.
      const slots = layered.allocate(8);
      await layered.run(0, layered.numLayers, slots, await layered.embed([410 + k, 500, 501, 502, 503, 504, 505, 506]));
      layered.commit([410 + k], [slots[0]!]);
      layered.drop(slots.slice(1));
      layered.maybeCompact();
      seq.push(410 + k);
    }
    assert.ok(layered.stats.compactions > 0, 'expected a compaction');
    seq.push(420);
    const d = maxDiff(await fullStep(layered, 420), await fused(reference, seq));
    assert.ok(d < TOL, `diff ${d}`);
    assert.equal(layered.length, seq.length);
  });

  test('layered_kv_propagate gives the K/V each block computes from the same hidden state', async () => {
    layered.reset();
    const slots = layered.allocate(5);
    const h = await layered.embed([300, 301, 302, 303, 304]);
    const h2 = await layered.run(0, 3, slots, h); // a real mid-stack state as well as the embedding
    for (const x of [h, h2]) {
      layered.reset();
      const s = layered.allocate(5);
      const prop = await layered.propagateKv(s, x);
      for (let l = 0; l < layered.numLayers; l++) {
        layered.reset();
        layered.allocate(5);
        // Block l run directly on x (empty past): its present K/V is x through layer l's input norm and projections.
        await layered.layer(l, s, x);
        const { key, value } = layered.cacheOf(l);
        assert.ok(maxDiff(key.data as Float32Array, prop.keys[l]!.data as Float32Array) < TOL, `key of layer ${l}`);
        assert.ok(maxDiff(value.data as Float32Array, prop.values[l]!.data as Float32Array) < TOL, `value of layer ${l}`);
      }
    }
  });

  /** Four tokens that exit at layer 2 (threshold 0), then one full-depth token: its logits. */
  async function afterExits(mode: SkippedKv): Promise<Float32Array> {
    layered.reset();
    await prefillLayered(layered, PROMPT);
    for (const t of [309, 310, 311, 312]) {
      const r = await exitPass(layered, t, { measure: 'softmax', threshold: 0, minExitLayer: 2, skippedKv: mode });
      assert.equal(r.exitLayer, 2);
      layered.commit([t], [r.slot]);
    }
    return fullStep(layered, 313);
  }

  test('state propagation deferred into the skipped blocks equals layered_kv_propagate run eagerly', async () => {
    const deferred = await afterExits('propagate');
    const eager = await afterExits('propagate-graph');
    assert.ok(maxDiff(deferred, eager) < TOL, `diff ${maxDiff(deferred, eager)}`);
    for (let l = 0; l < layered.numLayers; l++) assert.equal(layered.deferredAt(l), 0);
  });

  test('recomputing skipped layers gives the full model\'s K/V; propagation and no K/V do not', async () => {
    const want = await fused(reference, [...PROMPT, 309, 310, 311, 312, 313]);
    assert.ok(maxDiff(await afterExits('recompute'), want) < TOL, 'recompute');
    // The approximations must differ measurably, or the test above would prove nothing.
    assert.ok(maxDiff(await afterExits('propagate'), want) > 1e-3, 'propagate');
    assert.ok(maxDiff(await afterExits('none'), want) > 1e-3, 'none');
  });
});

describe('confidence measures and the exit-layer bandit', () => {
  test('softmax top-1, margin and saturation on hand-built values', () => {
    const logits = Float32Array.from([0, Math.log(3), Math.log(6), 0]); // probabilities 1/11, 3/11, 6/11, 1/11
    const t = topTwo(logits);
    assert.equal(t.argmax, 2);
    assert.ok(Math.abs(t.p1 - 6 / 11) < 1e-6 && Math.abs(t.p2 - 3 / 11) < 1e-6);
    const h = Float32Array.from([1, 0]);
    assert.ok(Math.abs(confidence('softmax', logits, h, h) - 6 / 11) < 1e-6);
    assert.ok(Math.abs(confidence('margin', logits, h, h) - 3 / 11) < 1e-6);
    assert.ok(Math.abs(confidence('saturation', null, Float32Array.from([1, 1]), h) - Math.SQRT1_2) < 1e-6);
    assert.equal(cosine(h, Float32Array.from([0, 0])), 0);
  });

  test('the bandit tries every exit layer, then keeps the cheapest per token and still explores', () => {
    const b = new ExitLayerBandit([2, 3, 4], 2, 4);
    const cost: Record<number, number> = { 2: 5, 3: 3, 4: 4 };
    const picks: number[] = [];
    for (let i = 0; i < 40; i++) {
      const e = b.choose();
      picks.push(e);
      b.record(e, 2, 2 * cost[e]!);
    }
    assert.deepEqual(picks.slice(0, 6), [2, 2, 3, 3, 4, 4]);
    const later = picks.slice(6);
    assert.ok(later.filter((e) => e === 3).length > later.length / 2, later.join(','));
    assert.ok(later.includes(2) && later.includes(4), 'exploration stopped');
  });

  test('the bandit scores an exit layer by time over tokens summed over its steps, not by the mean of per-step ratios', () => {
    // Layer 2 alternates a step that emits 1 token in 1 ms with one that emits 5 in 15 ms: 2 ms a token by the
    // mean of the steps' ratios, 16 / 6 = 2.67 ms a token in fact. Layer 3 costs 2.5 ms a token every step.
    const b = new ExitLayerBandit([2, 3], 4, 1000);
    const steps: Record<number, number> = { 2: 0, 3: 0 };
    const picks: number[] = [];
    for (let i = 0; i < 60; i++) {
      const e = b.choose();
      picks.push(e);
      const n = steps[e]!++;
      if (e === 2) b.record(2, n % 2 ? 5 : 1, n % 2 ? 15 : 1);
      else b.record(3, 2, 5);
    }
    assert.ok(Math.abs(b.estimate(3) - 2.5) < 1e-9);
    assert.ok(b.estimate(2) > 2.5, `layer 2 estimated at ${b.estimate(2)} ms a token`);
    assert.ok(picks.slice(8).every((e) => e === 3), picks.join(','));
  });
});

describe('early-exit strategies through the engine', () => {
  const items = loadWorkloads(['line-start', 'mid-line', 'repetitive'], 18); // 54 held-out prompts
  const MAX_NEW = 24;
  let engine: Engine;
  const ar = new Map<string, CompletionTrace>();

  const run = (prefix: string, suffix: string, strategy: Strategy, settings = {}): Promise<CompletionTrace> => finalTrace(engine, { prefix, suffix, strategy, maxNewTokens: MAX_NEW, settings }, true);

  before(async () => {
    engine = await Engine.load({ modelDir: TARGET, draftDir: null, runtime: { threads: 1 } });
    for (const it of items) ar.set(it.id, await run(it.prefix, it.suffix, 'autoregressive'));
  });
  after(async () => engine.dispose());

  test(`self-speculation equals autoregressive greedy on ${items.length} held-out prompts, and its trace marks exit layers`, async () => {
    assert.ok(items.length >= 50);
    assert.ok(engine.available().includes('self-speculation'));
    const L = engine.target.folder.config.numLayers;
    const mismatches: string[] = [];
    let drafted = 0;
    let accepted = 0;
    for (const it of items) {
      const t = await run(it.prefix, it.suffix, 'self-speculation');
      const want = ar.get(it.id)!.output;
      if (JSON.stringify(t.output) !== JSON.stringify(want)) mismatches.push(`${it.id}: ${JSON.stringify(t.output)} vs ${JSON.stringify(want)}`);
      for (const s of t.steps) {
        for (const n of s.nodes) {
          assert.ok(n.exitLayer !== undefined && n.exitLayer >= 1 && n.exitLayer < L, `drafted node exit layer ${n.exitLayer}`);
          drafted++;
          if (n.status === 'accepted') accepted++;
        }
        assert.equal(s.bonus?.exitLayer, L, 'verified tokens exit at the full depth');
      }
      const emitted = t.steps.reduce((n, s) => n + s.nodes.filter((x) => x.status === 'accepted').length + (s.bonus ? 1 : 0), 0);
      assert.ok(emitted >= t.tokens, `${it.id}: ${t.tokens} tokens but only ${emitted} carry an exit layer`);
    }
    assert.deepEqual(mismatches, []);
    assert.ok(drafted > items.length && accepted > 0, `drafted ${drafted}, accepted ${accepted}: speculation barely happened`);
  });

  test('CALM with threshold 1 (never exit early) equals autoregressive greedy; every token records its exit layer', async () => {
    const L = engine.target.folder.config.numLayers;
    for (const it of items.slice(0, 12)) {
      const t = await run(it.prefix, it.suffix, 'early-exit', { exitThreshold: 1 });
      assert.deepEqual(t.output, ar.get(it.id)!.output, it.id);
      assert.equal(t.steps.length, t.tokens + (t.stopReason === 'eos' ? 1 : 0), `${it.id}: one step per token`);
      assert.ok(t.steps.every((s) => s.bonus?.exitLayer === L), it.id);
    }
  });

  test('CALM at threshold 0 exits at the minimum layer, with each measure', async () => {
    const it = items[0]!;
    for (const exitMeasure of ['softmax', 'margin', 'saturation', 'classifier']) {
      const t = await run(it.prefix, it.suffix, 'early-exit', { exitThreshold: 0, minExitLayer: 3, exitMeasure });
      assert.ok(t.tokens > 0);
      assert.deepEqual([...new Set(t.steps.slice(1).map((s) => s.bonus?.exitLayer))], [3], exitMeasure);
    }
  });

  test('out-of-range settings are rejected, naming the valid range', async () => {
    const it = items[0]!;
    const rejects = (settings: object, strategy: Strategy, range: string) =>
      assert.rejects(run(it.prefix, it.suffix, strategy, settings), (e: unknown) => e instanceof HastenError && e.code === 'bad-request' && e.message.includes(range));
    await rejects({ exitThreshold: 1.5 }, 'early-exit', '[0, 1]');
    await rejects({ exitThreshold: -0.1 }, 'early-exit', '[0, 1]');
    await rejects({ exitThreshold: Number.NaN }, 'early-exit', '[0, 1]');
    await rejects({ minExitLayer: 9 }, 'early-exit', '1..8');
    await rejects({ selfSpecLayer: 8 }, 'self-speculation', '1..7');
    await rejects({ exitMeasure: 'learned' }, 'early-exit', 'softmax, margin, saturation');
  });
});

test('a model without a layered variant: a clear error naming the missing files and how to export them', async () => {
  const engine = await Engine.load({ modelDir: DRAFT, draftDir: null, runtime: { threads: 1 } });
  try {
    assert.ok(!engine.available().includes('early-exit'));
    for (const strategy of ['early-exit', 'self-speculation'] as const) {
      const gen = engine.complete({ prefix: 'def f(x):\n    return ', suffix: '', strategy, maxNewTokens: 4 })[Symbol.asyncIterator]();
      await assert.rejects(gen.next(), (e: unknown) => e instanceof HastenError && e.code === 'variant-missing' &&
        e.message.includes('layered_embed.onnx') && e.fix.includes('npm run hasten -- build') && e.fix.includes('layered'));
    }
  } finally {
    await engine.dispose();
  }
});

describe('the learned exit classifier (CALM\'s third measure)', () => {
  test('the bundled target\'s classifier gives the scores torch gave its probe, at every exit layer', async () => {
    const folder = await openModelFolder(TARGET);
    const c = ExitClassifier.open(folder);
    assert.equal(c.layers, folder.config.numLayers - 1);
    const probe = c.probe();
    assert.ok(probe, 'the shipped file carries its probe');
    const scores = probe.h.map((h, i) => c.score(i + 1, h, probe.previous[i]!));
    for (let i = 0; i < c.layers; i++) assert.ok(Math.abs(scores[i]! - probe.score[i]!) < 1e-5, `layer ${i + 1}: ${scores[i]} vs torch ${probe.score[i]}`);
    // A real classifier, not a constant: the layers' scores for the same token differ, and stay probabilities.
    assert.ok(Math.max(...scores) - Math.min(...scores) > 0.01 && scores.every((x) => x > 0 && x < 1), JSON.stringify(scores));
    assert.throws(() => c.score(folder.config.numLayers, probe.h[0]!, probe.previous[0]!), /covers layers 1\.\.7/);
  });

  test("the default measure ('auto') is the classifier where the model ships one, else softmax from the layer before the last", () => {
    const withC = earlyExitOptions(DEFAULT_EXIT, 8, true);
    assert.deepEqual([withC.measure, withC.minExitLayer, withC.threshold], ['classifier', 1, DEFAULT_EXIT.exitThreshold]);
    const without = earlyExitOptions(DEFAULT_EXIT, 8, false);
    assert.deepEqual([without.measure, without.minExitLayer], ['softmax', 7]);
    assert.equal(earlyExitOptions({ ...DEFAULT_EXIT, exitMeasure: 'saturation' }, 8, true).minExitLayer, 1, 'a free check may run from the first layer');
    assert.equal(earlyExitOptions({ ...DEFAULT_EXIT, exitMeasure: 'margin', minExitLayer: 3 }, 8, true).minExitLayer, 3);
  });

  test('a folder without the file, or with a damaged one, gives a clear error', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hasten-exitc-'));
    const folder = { dir, name: 'fake', config: { numLayers: 3 }, raw: { hidden_size: 4, rms_norm_eps: 1e-5 } } as unknown as ModelFolder;
    try {
      assert.throws(() => ExitClassifier.open(folder), (e: unknown) => e instanceof HastenError && e.code === 'variant-missing' && e.fix.includes('softmax'));
      const file = path.join(dir, EXIT_CLASSIFIER_FILE);
      const write = (w: number[], shape = [2, 5]) => writeSafetensors(file, [{ name: 'weight', shape, data: Float32Array.from(w) }, { name: 'bias', shape: [2], data: Float32Array.from([0, 0]) }], 'F32');
      const corrupt = (pattern: RegExp) => assert.throws(() => ExitClassifier.open(folder), (e: unknown) => e instanceof HastenError && e.code === 'model-corrupt' && pattern.test(e.message));
      write(new Array(12).fill(0), [3, 4]);
      corrupt(/weight has shape \[3, 4\].*needs \[2, 5\]/);
      write([...new Array(9).fill(0), Number.NaN]);
      corrupt(/not finite/);
      fs.writeFileSync(file, fs.readFileSync(file).subarray(0, 40));
      corrupt(/truncated|header/);
      // Hand-set weights: z = 2 * h[0] / rms(h) + 1 * cosine(h, previous) - 1 on layer 2, 0 on layer 1.
      writeSafetensors(file, [{ name: 'weight', shape: [2, 5], data: Float32Array.from([0, 0, 0, 0, 0, 2, 0, 0, 0, 1]) }, { name: 'bias', shape: [2], data: Float32Array.from([0, -1]) }], 'F32');
      const c = ExitClassifier.open(folder);
      const h = Float32Array.from([1, 1, 1, 1]);
      const rms = Math.sqrt(1 + 1e-5);
      assert.ok(Math.abs(c.score(2, h, h) - 1 / (1 + Math.exp(-(2 / rms + 1 - 1)))) < 1e-6);
      assert.ok(Math.abs(c.score(1, h, h) - 0.5) < 1e-9);
      assert.equal(c.probe(), null);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

test('Hidden.concat keeps rows in order', () => {
  const a = new Hidden(Float32Array.from([1, 2]), 1, 2);
  const b = new Hidden(Float32Array.from([3, 4, 5, 6]), 2, 2);
  const c = Hidden.concat([a, b]);
  assert.deepEqual([...c.data], [1, 2, 3, 4, 5, 6]);
  assert.equal(c.rows, 3);
  assert.ok(c.tensor() instanceof ort.Tensor);
});
