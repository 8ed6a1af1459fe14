// Lossless means identical: every speculative strategy, chain and tree, produces exactly the
// tokens of autoregressive greedy decoding, on held-out prompts with the bundled models.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { CompletionTrace, Engine, Strategy } from '../../src/engine';
import { loadWorkloads } from '../../bench/workloads';
import { finalTrace } from './helpers/complete';

const models = path.resolve(__dirname, '..', '..', 'models');
const items = loadWorkloads(['line-start', 'mid-line', 'repetitive'], 18); // 54 held-out prompts
const MAX_NEW = 24;

const run = (engine: Engine, prefix: string, suffix: string, strategy: Strategy): Promise<CompletionTrace> => finalTrace(engine, { prefix, suffix, strategy, maxNewTokens: MAX_NEW }, true);

let engine: Engine;
before(async () => {
  engine = await Engine.load({ modelDir: path.join(models, 'hasten-target'), runtime: { threads: 1 } });
  for (const it of items) await engine.retrieval.update(it.id, it.prefix + it.truth + it.suffix);
});
after(async () => engine.dispose());

test(`${items.length} held-out prompts: draft-model, token-tree, prompt-lookup, lookup-draft and retrieval equal autoregressive greedy`, async () => {
  assert.ok(items.length >= 50);
  const strategies: Strategy[] = ['draft-model', 'token-tree', 'prompt-lookup', 'lookup-draft', 'retrieval'];
  const mismatches: string[] = [];
  let accepted = 0;
  const lookupDraft = new Map<string, number>();
  for (const it of items) {
    const ar = await run(engine, it.prefix, it.suffix, 'autoregressive');
    assert.ok(ar.tokens > 0, `${it.id}: autoregressive produced nothing`);
    for (const s of strategies) {
      const t = await run(engine, it.prefix, it.suffix, s);
      accepted += t.steps.reduce((n, st) => n + st.nodes.filter((x) => x.status === 'accepted').length, 0);
      if (s === 'lookup-draft') for (const st of t.steps) lookupDraft.set(st.drafter, (lookupDraft.get(st.drafter) ?? 0) + 1);
      if (JSON.stringify(t.output) !== JSON.stringify(ar.output)) mismatches.push(`${it.id} ${s}: ${JSON.stringify(t.output)} vs ${JSON.stringify(ar.output)}`);
    }
  }
  assert.deepEqual(mismatches, []);
  // Speculation really happened (a test of losslessness that accepted nothing would prove little).
  assert.ok(accepted > items.length, `only ${accepted} draft tokens accepted in total`);
  // lookup-draft's steps were drafted by both: copies where the text repeats, the draft model elsewhere.
  assert.deepEqual([...lookupDraft.keys()].sort(), ['draft-model:hasten-draft-m', 'prompt-lookup']);
});

test('token trees verified as batched paths (models without tree attention) equal autoregressive greedy on 20 prompts', async () => {
  const batched = await Engine.load({ modelDir: path.join(models, 'hasten-target'), runtime: { threads: 1 }, treeAttention: false });
  try {
    assert.equal(batched.target.nativeTree, false);
    for (const it of items.slice(0, 20)) {
      const ar = await run(engine, it.prefix, it.suffix, 'autoregressive');
      const t = await run(batched, it.prefix, it.suffix, 'token-tree');
      assert.deepEqual(t.output, ar.output, it.id);
    }
  } finally {
    await batched.dispose();
  }
});
