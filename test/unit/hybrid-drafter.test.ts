// lookup-draft's drafter: prompt lookup first, the draft model when lookup proposes nothing; only
// the drafter that drafted is told the outcome, and each step's trace names it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HybridDrafter } from '../../src/engine/drafters/hybrid';
import { PromptLookupDrafter } from '../../src/engine/drafters/promptLookup';
import { DraftOutcome, DraftRequest, Drafter, newStats } from '../../src/engine/drafters/types';
import { HYBRID_LOOKUP } from '../../src/engine/engine';
import { GREEDY } from '../../src/engine/sampling';
import { DraftTree } from '../../src/engine/verify/tree';

/** A draft model stand-in: proposes `next` after the last token, and records what it is told. */
class FakeModel implements Drafter {
  readonly name = 'draft-model:fake';
  readonly stats = newStats();
  readonly told: DraftOutcome[] = [];
  begun = 0;
  async begin(): Promise<void> {
    this.begun++;
  }
  async draft(req: DraftRequest): Promise<DraftTree> {
    this.stats.drafts++;
    this.stats.drafted++;
    return { tokens: [req.history[req.history.length - 1]! + 1], parents: [-1], probs: [null], confidence: [0.9] };
  }
  update(o: DraftOutcome): void {
    this.told.push(o);
    this.stats.accepted += o.accepted.length;
  }
  async dispose(): Promise<void> {}
}

const request = (history: number[]): DraftRequest => ({ history, maxNodes: 24, maxDepth: 16, sampling: GREEDY, rand: Math.random });

test('lookup-draft copies after a 4-token match and asks the draft model otherwise', async () => {
  const model = new FakeModel();
  const lookup = new PromptLookupDrafter({ ...HYBRID_LOOKUP });
  const h = new HybridDrafter(lookup, model);
  assert.equal(h.name, 'prompt-lookup+draft-model:fake');
  await h.begin([1, 2, 3]);
  assert.equal(model.begun, 1);

  // The last 4 tokens (5 6 7 8) occurred before, followed by 9 10 11: a copy, no draft-model run.
  const repeated = [5, 6, 7, 8, 9, 10, 11, 40, 5, 6, 7, 8];
  const copy = await h.draft(request(repeated));
  assert.deepEqual(copy.tokens.slice(0, 3), [9, 10, 11]);
  assert.equal(h.stepDrafter, 'prompt-lookup');
  assert.equal(model.stats.drafts, 0);
  h.update({ tree: copy, accepted: [0, 1], history: [...repeated, 9, 10, 30] });
  assert.equal(model.told.length, 0, 'the draft model is not told about a copy');
  assert.equal(lookup.stats.accepted, 2);

  // Only 3 tokens match (6 7 8 after 9): prompt lookup alone would copy, lookup-draft asks the model.
  const short = [6, 7, 8, 50, 1, 9, 6, 7, 8];
  const drafted = await h.draft(request(short));
  assert.deepEqual(drafted.tokens, [9]);
  assert.equal(h.stepDrafter, 'draft-model:fake');
  h.update({ tree: drafted, accepted: [0], history: [...short, 9, 12] });
  assert.equal(model.told.length, 1);
  assert.equal(lookup.stats.accepted, 2, 'prompt lookup is not told about the model\'s draft');

  // Nothing matches at all: the model again.
  assert.deepEqual((await h.draft(request([1, 2, 3, 4]))).tokens, [5]);
  assert.deepEqual(h.steps, { lookup: 1, model: 2 });
  const s = h.stats;
  assert.equal(s.drafts, 3);
  assert.equal(s.accepted, 3);
  assert.equal(s.drafted, copy.tokens.length + 2);
});
