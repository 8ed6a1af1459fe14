// The builder's CPU graph (onnx/model_fast_cpu.onnx, run by inplace.ts): attention reads each layer's
// KV buffer as an input and only the block's new K/V rows come out, which the engine writes into the
// buffer. Lossless against the standard graph token for token on held-out prompts, and tree
// verification, rollback, prefix reuse, long prefills in parts and buffer growth through the one cache.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { build } from '../../src/build/builder';
import { CausalModel, Logits } from '../../src/engine/model/causal';
import { openModelFolder, ModelFolder } from '../../src/engine/model/folder';
import { CHUNK, GROWTH } from '../../src/engine/model/inplace';
import { DEFAULT_RUNTIME, RuntimeOptions } from '../../src/engine/model/session';
import { loadWorkloads } from '../../bench/workloads';

const TARGET = path.resolve(__dirname, '..', '..', 'models', 'hasten-target');
const rt: RuntimeOptions = { ...DEFAULT_RUNTIME, threads: 1 };
const TOL = 1e-4;
/** A prefill part's length (builder 4 switched to another attention form from 32 tokens; builder 5 has one form for all). */
const LONG_BLOCK = 32;

function maxDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function argmax(row: Float32Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
  return best;
}

/** Logits of the last token of `tokens`, from scratch on a fresh cache. */
async function fresh(model: CausalModel, tokens: number[]): Promise<Float32Array> {
  model.reset();
  const l = await model.forward(tokens, null);
  model.commit(tokens.map((_, i) => i));
  return l.row(tokens.length - 1).slice();
}

/** Greedy tokens after `prompt`, and the last step's logits. */
async function greedy(model: CausalModel, prompt: number[], n: number): Promise<{ tokens: number[]; last: Float32Array }> {
  model.reset();
  let l = await model.forward(prompt, null, undefined, { lastOnly: true });
  model.commit(prompt.map((_, i) => i));
  const tokens: number[] = [];
  for (let s = 0; s < n; s++) {
    tokens.push(argmax(l.row(l.rows - 1)));
    l = await model.forward([tokens.at(-1)!], null);
    model.commit([0]);
  }
  return { tokens, last: l.row(0).slice() };
}

/** The outputs of the session a model runs chains on (a private field, named `chain` since the device refactor). */
function outputsOf(m: CausalModel): readonly string[] {
  const s = m as unknown as { chain?: ort.InferenceSession; standard?: ort.InferenceSession };
  return (s.chain ?? s.standard)!.outputNames;
}

describe('the CPU graph (KV buffers read in place, new rows written by the engine)', () => {
  let dir: string;
  let folder: ModelFolder;
  let cpu: CausalModel;
  let shared: CausalModel;
  let standard: CausalModel;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hasten-cpu-graph-'));
    await build({ from: TARGET, out: path.join(dir, 'm'), dtype: 'fp16', variants: ['standard', 'fast', 'tree', 'cpu'] });
    folder = openModelFolder(path.join(dir, 'm'));
    cpu = await CausalModel.open(folder, rt, true);
    // The same build without its CPU graph runs the GroupQueryAttention fast graph (presents in place).
    shared = await CausalModel.open({ ...folder, files: { ...folder.files, fastCpu: undefined } }, rt, false);
    standard = await CausalModel.open(folder, rt, false, { fast: false });
  });
  after(async () => {
    await cpu.dispose();
    await shared.dispose();
    await standard.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a build writes it, and on the CPU the engine runs it for chains and trees', () => {
    assert.equal(folder.files.fastCpu, path.join(dir, 'm', 'onnx', 'model_fast_cpu.onnx'));
    assert.ok(outputsOf(cpu).includes('new.0.key') && !outputsOf(cpu).some((n) => n.startsWith('present.')));
    assert.ok(outputsOf(shared).includes('present.0.key'));
    assert.ok(cpu.nativeTree);
  });

  test('greedy decoding on held-out prompts is token for token the standard graph\'s (and the in-place fast graph\'s)', async () => {
    const tk = folder.tokenizer;
    const items = loadWorkloads(undefined, 2);
    const prompts = items.map((it) => tk.encode(it.prefix).slice(-400));
    // One prompt longer than two prefill parts and past several buffer growths.
    prompts.push(tk.encode(items.map((it) => it.prefix).join('\n')).slice(-(2 * CHUNK + 100)));
    assert.ok(prompts.some((p) => p.length % GROWTH > GROWTH - 24), 'some prompt grows the buffer while decoding');
    for (const [i, p] of prompts.entries()) {
      const want = await greedy(standard, p, 24);
      const got = await greedy(cpu, p, 24);
      const inPlace = await greedy(shared, p, 24);
      assert.deepEqual(got.tokens, want.tokens, `prompt ${i} (${p.length} tokens)`);
      assert.deepEqual(inPlace.tokens, want.tokens, `prompt ${i}, in-place fast graph`);
      assert.ok(maxDiff(got.last, want.last) < TOL, `prompt ${i}: last logits differ by ${maxDiff(got.last, want.last)}`);
    }
  });

  test('a prefill longer than a part returns every row, equal to the standard graph\'s', async () => {
    const tokens = Array.from({ length: CHUNK + 70 }, (_, i) => 300 + ((i * 7) % 400));
    cpu.reset();
    const got = await cpu.forward(tokens, null);
    standard.reset();
    const want = await standard.forward(tokens, null);
    for (const r of [0, CHUNK - 1, CHUNK, tokens.length - 1]) assert.ok(maxDiff(got.row(r), want.row(r)) < TOL, `row ${r}`);
  });

  const PROMPT = [1, 300, 301, 302, 303, 304, 305, 3, 306, 307, 2, 308];

  test('tree verification: every node equals a linear run of its branch, and the accepted branch continues correctly', async () => {
    const tokens = [450, 451, 460, 452, 461, 462];
    const parents = [-1, 0, 0, 1, 2, 2];
    cpu.reset();
    await cpu.forward(PROMPT, null);
    cpu.commit(PROMPT.map((_, i) => i));
    const logits: Logits = await cpu.forward(tokens, parents);
    for (let i = 0; i < tokens.length; i++) {
      const branch: number[] = [];
      for (let j = i; j !== -1; j = parents[j]!) branch.unshift(tokens[j]!);
      const want = await fresh(standard, [...PROMPT, ...branch]);
      assert.ok(maxDiff(logits.row(i), want) < TOL, `node ${i}: diff ${maxDiff(logits.row(i), want)}`);
    }
    cpu.commit([0, 2, 5]);
    const next = await cpu.forward([470], null);
    const want = await fresh(standard, [...PROMPT, 450, 460, 462, 470]);
    assert.ok(maxDiff(next.row(0), want) < TOL, `after accepting a branch: diff ${maxDiff(next.row(0), want)}`);
  });

  test('blocks of LONG_BLOCK tokens and of LONG_BLOCK - 1 then 1 give the standard graph\'s rows, with and without a past', async () => {
    const prompt = Array.from({ length: LONG_BLOCK + 8 }, (_, i) => 300 + ((i * 11) % 500));
    const block = Array.from({ length: LONG_BLOCK }, (_, i) => 320 + ((i * 13) % 450));
    standard.reset();
    const want = await standard.forward([...prompt, ...block], null);
    // Long, from an empty cache; then long after that past, or one token short of long and a single token.
    for (const split of [[LONG_BLOCK], [LONG_BLOCK - 1, 1]]) {
      cpu.reset();
      const first = await cpu.forward(prompt, null);
      for (const r of [0, prompt.length - 1]) assert.ok(maxDiff(first.row(r), want.row(r)) < TOL, `prompt row ${r}: diff ${maxDiff(first.row(r), want.row(r))}`);
      cpu.commit(prompt.map((_, i) => i));
      let at = 0;
      for (const n of split) {
        const part = block.slice(at, at + n);
        const got = await cpu.forward(part, null);
        for (let r = 0; r < n; r++) {
          const w = want.row(prompt.length + at + r);
          assert.ok(maxDiff(got.row(r), w) < TOL, `blocks ${split.join('+')}: row ${at + r} diff ${maxDiff(got.row(r), w)}`);
        }
        cpu.commit(part.map((_, i) => i));
        at += n;
      }
    }
  });

  test('a tree of LONG_BLOCK nodes or more: every node equals a linear run of its branch', async () => {
    // Four chains of ten nodes under the committed prompt.
    const tokens = Array.from({ length: 40 }, (_, i) => 500 + i * 3);
    const parents = tokens.map((_, i) => (i % 10 === 0 ? -1 : i - 1));
    assert.ok(tokens.length >= LONG_BLOCK);
    cpu.reset();
    await cpu.forward(PROMPT, null);
    cpu.commit(PROMPT.map((_, i) => i));
    const logits = await cpu.forward(tokens, parents);
    for (const i of [0, 9, 10, 23, 39]) {
      const branch: number[] = [];
      for (let j = i; j !== -1; j = parents[j]!) branch.unshift(tokens[j]!);
      const want = await fresh(standard, [...PROMPT, ...branch]);
      assert.ok(maxDiff(logits.row(i), want) < TOL, `node ${i}: diff ${maxDiff(logits.row(i), want)}`);
    }
    cpu.commit([20, 21, 22]);
    const next = await cpu.forward([470], null);
    const want = await fresh(standard, [...PROMPT, ...tokens.slice(20, 23), 470]);
    assert.ok(maxDiff(next.row(0), want) < TOL, `after accepting a branch: diff ${maxDiff(next.row(0), want)}`);
  });

  test('rolling back rejected draft tokens matches recomputing without them', async () => {
    cpu.reset();
    await cpu.forward(PROMPT, null);
    cpu.commit(PROMPT.map((_, i) => i));
    await cpu.forward([400, 401, 402, 403], null);
    cpu.commit([0, 1]);
    const l = await cpu.forward([410], null);
    const want = await fresh(standard, [...PROMPT, 400, 401, 410]);
    assert.ok(maxDiff(l.row(0), want) < TOL);
  });

  test('a greedy read (read: argmax) brings back each row\'s argmax and softmax probability instead of the rows, for chains, trees and prefills in parts', async () => {
    assert.ok(outputsOf(cpu).includes('argmax') && outputsOf(cpu).includes('confidence'));
    const maxProb = (row: Float32Array) => {
      const m = row[argmax(row)]!;
      let sum = 0;
      for (const x of row) sum += Math.exp(x - m);
      return 1 / sum;
    };
    const same = (got: Logits, want: Logits, rows: number[], what: string) => {
      assert.equal(got.hasRows, false, `${what}: no rows read`);
      for (const r of rows) {
        assert.equal(got.argmax(r), argmax(want.row(r)), `${what}: row ${r}`);
        assert.ok(Math.abs(got.confidence(r)! - maxProb(want.row(r))) < 1e-5, `${what}: row ${r} probability ${got.confidence(r)} vs ${maxProb(want.row(r))}`);
      }
    };
    const prompt = Array.from({ length: CHUNK + 40 }, (_, i) => 300 + ((i * 7) % 400));
    const tokens = [450, 451, 460, 452, 461, 462];
    const parents = [-1, 0, 0, 1, 2, 2];
    const run = async (read: 'rows' | 'argmax') => {
      cpu.reset();
      const all = await cpu.forward(prompt, null, undefined, { read });
      cpu.commit(prompt.map((_, i) => i));
      const tree = await cpu.forward(tokens, parents, undefined, { read });
      cpu.commit([0, 2, 5]);
      const next = await cpu.forward([470, 471], null, undefined, { read });
      cpu.reset();
      const last = await cpu.forward(prompt, null, undefined, { read, lastOnly: true });
      return { all, tree, next, last };
    };
    const want = await run('rows');
    const got = await run('argmax');
    same(got.all, want.all, [0, CHUNK - 1, CHUNK, prompt.length - 1], 'a prefill in two parts');
    same(got.tree, want.tree, tokens.map((_, i) => i), 'a tree after it');
    same(got.next, want.next, [0, 1], 'a chain after accepting a branch (the cache the greedy reads left)');
    same(got.last, want.last, [prompt.length - 1], 'the last row of a prefill in parts');
    assert.throws(() => got.last.argmax(0), RangeError);
  });

  test('a new request reuses the longest common prefix of the cache', async () => {
    cpu.reset();
    await cpu.forward([...PROMPT, 430, 431], null);
    cpu.commit([...PROMPT, 430, 431].map((_, i) => i));
    assert.equal(cpu.retain([...PROMPT, 440]), PROMPT.length);
    const l = await cpu.forward([440], null);
    const want = await fresh(standard, [...PROMPT, 440]);
    assert.ok(maxDiff(l.row(0), want) < TOL);
  });
});
