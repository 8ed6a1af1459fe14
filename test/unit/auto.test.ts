// The auto strategy's choice, against simulated strategies with fixed costs: it starts from the
// measured priors, so when they hold it spends almost every request on the fastest strategy, and when
// they do not (a model whose draft model pays off) it still finds the fastest.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AutoSelector, PRIOR_SPEEDUP, type Strategy } from '../../src/engine/strategies';

const CANDIDATES: Strategy[] = ['prompt-lookup', 'lookahead', 'autoregressive', 'draft-model', 'token-tree', 'retrieval'];

/** Runs `n` requests of 32 tokens; `msPerToken` is each strategy's true cost. Returns the picks and auto's mean cost. */
function run(msPerToken: Partial<Record<Strategy, number>>, n: number): { picks: Strategy[]; cost: number } {
  const auto = new AutoSelector();
  const picks: Strategy[] = [];
  let ms = 0;
  for (let i = 0; i < n; i++) {
    const s = auto.choose(CANDIDATES);
    picks.push(s);
    const cost = msPerToken[s]! * (1 + 0.1 * Math.sin(i)); // a little noise per prompt
    ms += cost * 32;
    auto.record(s, 32, cost * 32);
  }
  return { picks, cost: ms / (32 * n) };
}

test('when the priors hold, auto is within 3% of the fastest strategy over 90 prompts and starts on it', () => {
  const truth = Object.fromEntries(CANDIDATES.map((s) => [s, 4 / PRIOR_SPEEDUP[s]!])) as Record<Strategy, number>;
  const { picks, cost } = run(truth, 90);
  assert.equal(picks[0], 'prompt-lookup');
  const best = truth['prompt-lookup'];
  assert.ok(cost <= best * 1.03, `auto ${cost.toFixed(3)} ms/token vs prompt lookup ${best.toFixed(3)}`);
  assert.ok(picks.filter((p) => p === 'prompt-lookup').length >= 84, `prompt lookup ${picks.filter((p) => p === 'prompt-lookup').length}/90`);
});

test('when the priors are wrong for a model (its draft model pays off), auto still finds the fastest', () => {
  const truth: Partial<Record<Strategy, number>> = { 'prompt-lookup': 3.6, lookahead: 3.3, autoregressive: 4, 'draft-model': 1.5, 'token-tree': 1.8, retrieval: 4.4 };
  const { picks } = run(truth, 400);
  const last = picks.slice(-100);
  assert.ok(last.filter((p) => p === 'draft-model').length >= 90, `draft-model in the last 100: ${last.filter((p) => p === 'draft-model').length}`);
});

test('a candidate measured slower than its prior said is dropped for the next best', () => {
  const truth: Partial<Record<Strategy, number>> = { 'prompt-lookup': 5, lookahead: 2.8, autoregressive: 4, 'draft-model': 5, 'token-tree': 5.5, retrieval: 4.4 };
  const { picks } = run(truth, 120);
  assert.ok(picks.slice(-40).filter((p) => p === 'lookahead').length >= 36, picks.slice(-40).join(','));
});

test('one lucky completion of another strategy does not displace the one in use', () => {
  const auto = new AutoSelector();
  for (let i = 0; i < 23; i++) {
    const s = auto.choose(CANDIDATES);
    assert.equal(s, 'prompt-lookup');
    auto.record(s, 32, 32 * 2.0);
  }
  const explored = auto.choose(CANDIDATES);
  assert.equal(explored, 'lookahead', 'the 24th request measures the next candidate by prior');
  auto.record(explored, 32, 32 * 1.8); // 10% faster on this one context
  assert.equal(auto.choose(CANDIDATES), 'prompt-lookup');
});
