// Drafters in isolation: prompt lookup, the retrieval index, adaptive draft length, the draft model (prefill, the confidence stop, greedy reads).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { lookupContinuations, DEFAULT_LOOKUP, PromptLookupDrafter } from '../../src/engine/drafters/promptLookup';
import { findRange, RetrievalDrafter, RetrievalIndex, suffixArray } from '../../src/engine/drafters/retrieval';
import { DraftLength } from '../../src/engine/drafters/types';
import { TextTokenizer } from '../../src/engine/tokenizer';
import { CausalModel } from '../../src/engine/model/causal';
import { openModelFolder } from '../../src/engine/model/folder';
import { DraftModelDrafter } from '../../src/engine/drafters/draftModel';
import { GREEDY, seededRandom } from '../../src/engine/sampling';
import { chain } from '../../src/engine/verify/tree';

const req = (history: number[], maxDepth = 8) => ({ history, maxNodes: 16, maxDepth, sampling: GREEDY, rand: seededRandom(1) });

describe('prompt lookup', () => {
  test('continues the most recent earlier occurrence of the longest matching n-gram', () => {
    const seq = [1, 2, 3, 9, 9, 1, 2, 3, 7, 7, 5, 1, 2, 3];
    assert.deepEqual(lookupContinuations(seq, { ...DEFAULT_LOOKUP, branches: 1 }, 3), [[7, 7, 5]]);
    assert.deepEqual(lookupContinuations(seq, { ...DEFAULT_LOOKUP, branches: 2 }, 2), [[7, 7], [9, 9]]);
  });

  test('no match, no draft', async () => {
    const d = new PromptLookupDrafter();
    const tree = await d.draft(req([1, 2, 3, 4]));
    assert.equal(tree.tokens.length, 0);
  });

  test('the draft is a chain capped at the allowed depth', async () => {
    const d = new PromptLookupDrafter();
    const tree = await d.draft(req([5, 6, 7, 8, 9, 10, 11, 5, 6], 3));
    assert.deepEqual(tree.tokens, [7, 8, 9]);
    assert.deepEqual(tree.parents, [-1, 0, 1]);
  });
});

describe('retrieval index', () => {
  test('suffix array ranges find every occurrence of a pattern', () => {
    const tokens = Int32Array.from([3, 1, 2, 3, 1, 2, 4, 3, 1]);
    const doc = { tokens, sa: suffixArray(tokens) };
    const [lo, hi] = findRange(doc, [3, 1]);
    assert.deepEqual([...doc.sa.subarray(lo, hi)].sort(), [0, 3, 7]);
    const [lo2, hi2] = findRange(doc, [2, 4]);
    assert.deepEqual([...doc.sa.subarray(lo2, hi2)], [5]);
    const [lo3, hi3] = findRange(doc, [4, 4]);
    assert.equal(hi3 - lo3, 0);
  });

  test('drafts the most frequent continuation from indexed documents, and re-indexes a changed document alone', async () => {
    const tk = TextTokenizer.load(path.resolve(__dirname, '..', '..', 'models', 'hasten-target'), [0]);
    const index = new RetrievalIndex(tk);
    await index.update('a', 'function add(a, b) {\n  return a + b;\n}\n');
    await index.update('b', 'function sub(a, b) {\n  return a - b;\n}\n');
    // Matching works on tokens, so the history ends where the documents have a token boundary too.
    const history = tk.encode('x = 1\nfunction add(a, b)');
    const d = new RetrievalDrafter(index);
    const tree = await d.draft(req(history, 8));
    assert.ok(tk.decode(tree.tokens).startsWith(' {\n  return a + b'), JSON.stringify(tk.decode(tree.tokens)));
    await index.update('a', 'nothing here');
    const after = await d.draft(req(history, 6));
    assert.ok(!tk.decode(after.tokens).includes('a + b'));
    assert.equal(index.size, 2);
  });
});

test('draft length: +2 after a fully accepted draft, -1 otherwise, within bounds', () => {
  const l = new DraftLength(4, 1, 8);
  l.update(4, 4);
  assert.equal(l.current, 6);
  l.update(6, 6);
  assert.equal(l.current, 8);
  l.update(8, 8);
  assert.equal(l.current, 8);
  l.update(8, 2);
  assert.equal(l.current, 7);
  for (let i = 0; i < 10; i++) l.update(3, 0);
  assert.equal(l.current, 1);
  assert.deepEqual(chain([4, 5]).parents, [-1, 0]);
});

describe('draft model', () => {
  const folder = openModelFolder(path.join(__dirname, '..', '..', 'models', 'hasten-draft-m'));
  let model: CausalModel;
  before(async () => {
    model = await CausalModel.open(folder, { provider: 'cpu', threads: 1, shared: true });
  });
  after(async () => {
    await model.dispose();
  });

  test('begin runs the prompt through the draft (prefill), so the first draft feeds one token and drafts what a cold draft would; the confidence stop', async () => {
    const prompt = folder.tokenizer.encode('def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n');
    const history = [...prompt, prompt[prompt.length - 1]!];
    const opts = { draftLength: 4, adaptive: false, widths: [] };
    const cold = await new DraftModelDrafter(model, opts).draft(req(history));
    model.reset();
    const warm = new DraftModelDrafter(model, opts);
    await warm.begin(prompt);
    const cached = model.retain(prompt);
    assert.equal(cached, prompt.length, 'the prompt is in the draft cache after begin');
    const tree = await warm.draft(req(history));
    assert.deepEqual(tree.tokens, cold.tokens);
    assert.equal(tree.tokens.length, 4);
    // The confidence stop: an adaptive chain ends after a token the draft is less sure of than minConfidence
    // (above 1: after the first); a fixed length (adaptive false, the draft-length sweep) ignores it.
    model.reset();
    const unsure = await new DraftModelDrafter(model, { ...opts, adaptive: true, minConfidence: 1.01 }).draft(req(history));
    assert.deepEqual(unsure.tokens, cold.tokens.slice(0, 1));
    model.reset();
    const sure = await new DraftModelDrafter(model, { ...opts, adaptive: true, minConfidence: 0 }).draft(req(history));
    assert.deepEqual(sure.tokens, cold.tokens);
    model.reset();
    assert.deepEqual((await new DraftModelDrafter(model, { ...opts, minConfidence: 1.01 }).draft(req(history))).tokens, cold.tokens);
    // A prompt that fills the draft's context is left alone (draft() then drafts nothing) rather than failing.
    model.reset();
    await warm.begin(new Array(model.contextLength).fill(prompt[0]!));
    assert.equal(model.retain(prompt), 0);
  });

  test('a greedy chain reads each run\'s argmax and its probability from the graph, not the logits rows, and drafts what reading the rows drafts', async () => {
    const reads: (string | undefined)[] = [];
    const forward = model.forward.bind(model);
    try {
      model.forward = async (tokens, parents, signal, o = {}) => {
        reads.push(o.read);
        const l = await forward(tokens, parents, signal, o);
        if (o.read === 'argmax') assert.equal(l.hasRows, false, 'a greedy read brings back no rows');
        return l;
      };
      for (const text of ['def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n', 'const xs = [1, 2, 3];\nfor (const x of xs) {\n  console.']) {
        const prompt = folder.tokenizer.encode(text);
        const history = [...prompt, prompt[prompt.length - 1]!];
        model.reset();
        reads.length = 0;
        const chainTree = await new DraftModelDrafter(model, { draftLength: 5, adaptive: false, widths: [] }).draft(req(history));
        assert.ok(reads.length > 1 && !reads.some((r) => r !== 'argmax'), `reads: ${reads.join(', ')}`);
        // With a second candidate at every depth the drafter reads the rows (top-k needs them); its main path
        // (every other node) is the chain, and its probabilities are computed from the rows.
        model.reset();
        reads.length = 0;
        const wide = await new DraftModelDrafter(model, { draftLength: 5, adaptive: false, widths: [2, 2, 2, 2, 2] }).draft(req(history));
        assert.ok(!reads.some((r) => r !== 'rows'), `reads: ${reads.join(', ')}`);
        const main = wide.tokens.map((_, i) => i).filter((i) => i % 2 === 0);
        assert.deepEqual(chainTree.tokens, main.map((i) => wide.tokens[i]));
        for (const [d, i] of main.entries()) {
          assert.ok(Math.abs(chainTree.confidence[d]! - wide.confidence[i]!) < 1e-5, `depth ${d}: ${chainTree.confidence[d]} vs ${wide.confidence[i]}`);
        }
      }
    } finally {
      model.forward = forward;
    }
  });
});
