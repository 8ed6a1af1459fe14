// The CLI bench's table (`hasten bench`): each strategy's speed-up over autoregressive decoding on the
// same prompts, and where a step's time goes (drafting, then the target's verification).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatTable, tabulate, type RunRecord } from '../../bench/run';

const rec = (item: string, strategy: RunRecord['strategy'], o: Partial<RunRecord>): RunRecord => ({
  item, kind: 'line-start', strategy, tokens: 10, decodeMs: 100, prefillMs: 5, steps: 10, drafted: 0, accepted: 0, draftMs: 0, verifyMs: 0, output: [1, 2, 3], ...o,
});

test('tabulate: speed-up against autoregressive on the same items, and drafting and verification ms per step', () => {
  const rows = tabulate([
    rec('a', 'autoregressive', { draftMs: 0, verifyMs: 90 }),
    rec('b', 'autoregressive', { draftMs: 0, verifyMs: 90 }),
    rec('a', 'draft-model', { decodeMs: 50, steps: 4, drafted: 8, accepted: 6, draftMs: 12, verifyMs: 30 }),
    rec('b', 'draft-model', { decodeMs: 50, steps: 4, drafted: 8, accepted: 6, draftMs: 20, verifyMs: 34, output: [1, 2, 4] }),
  ]);
  const dm = rows.find((r) => r.strategy === 'draft-model')!;
  assert.equal(dm.speedup, 2);
  assert.equal(dm.acceptanceRate, 0.75);
  assert.equal(dm.draftMsPerStep, 4);
  assert.equal(dm.verifyMsPerStep, 8);
  assert.equal(dm.identical, 1);
  assert.equal(dm.lossless, false);
  const table = formatTable(rows).split('\n');
  assert.match(table[0]!, /draft ms\/step +verify ms\/step/);
  assert.match(table.find((l) => l.startsWith('draft-model'))!, /2\.00x .* 4\.00 +8\.00 /);
});
