// The auto strategy's choice, against simulated strategies with fixed costs: it starts from the
// measured priors, so when they hold it spends almost every request on the fastest strategy, and when
// they do not (a model whose draft model pays off) it still finds the fastest.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lookupSteps } from '../../src/engine/drafters/promptLookup';
import { seededRandom } from '../../src/engine/sampling';
import { AutoSelector, PRIOR_SPEEDUP, type Strategy } from '../../src/engine/strategies';

/** The selector's mechanics are simulated over these (the engine's with a draft model, lookup-draft aside, and retrieval). */
const CANDIDATES: Strategy[] = ['prompt-lookup', 'lookahead', 'autoregressive', 'draft-model', 'token-tree', 'retrieval'];

/** Runs `n` requests of 32 tokens; `msPerToken` is each strategy's true cost. Returns the picks and auto's mean cost. */
function run(msPerToken: Partial<Record<Strategy, number>>, n: number, candidates = CANDIDATES): { picks: Strategy[]; cost: number } {
  const auto = new AutoSelector();
  const picks: Strategy[] = [];
  let ms = 0;
  for (let i = 0; i < n; i++) {
    const s = auto.choose(candidates);
    picks.push(s);
    const cost = msPerToken[s]! * (1 + 0.1 * Math.sin(i)); // a little noise per prompt
    ms += cost * 32;
    auto.record(s, 32, cost * 32);
  }
  return { picks, cost: ms / (32 * n) };
}

/** Runs `fn` with some priors replaced, and puts the shipped ones back. */
function withPriors(priors: Partial<Record<Strategy, number>>, fn: () => void): void {
  const saved = { ...PRIOR_SPEEDUP };
  Object.assign(PRIOR_SPEEDUP, priors);
  try {
    fn();
  } finally {
    Object.assign(PRIOR_SPEEDUP, saved);
  }
}

test('when the priors hold, auto is within 3% of the fastest strategy over 90 prompts and starts on it', () => {
  const truth = Object.fromEntries(CANDIDATES.map((s) => [s, 4 / PRIOR_SPEEDUP[s]!])) as Record<Strategy, number>;
  const { picks, cost } = run(truth, 90);
  assert.equal(picks[0], 'prompt-lookup');
  const best = truth['prompt-lookup'];
  assert.ok(cost <= best * 1.03, `auto ${cost.toFixed(3)} ms/token vs prompt lookup ${best.toFixed(3)}`);
  // The draft model's prior is within 1% of prompt lookup's, so requests on it cost nothing that matters; the
  // strategies more than 5% slower are what exploration must ration.
  const slow = picks.filter((p) => truth[p] > best * 1.05).length;
  assert.ok(slow <= 6, `${slow}/90 requests on strategies more than 5% slower than prompt lookup`);
  assert.ok(picks.filter((p) => p === 'prompt-lookup').length >= 75, `prompt lookup ${picks.filter((p) => p === 'prompt-lookup').length}/90`);
});

test('with a draft model the candidates include lookup + draft model, the priors\' best: auto starts on it and stays within 1.5% of it', () => {
  // The engine's candidates when a draft model is loaded (Engine.autoCandidates).
  const withDraft: Strategy[] = ['prompt-lookup', 'lookahead', 'autoregressive', 'lookup-draft', 'draft-model', 'token-tree'];
  const truth = Object.fromEntries(withDraft.map((s) => [s, 4 / PRIOR_SPEEDUP[s]!])) as Record<Strategy, number>;
  const { picks, cost } = run(truth, 90, withDraft);
  assert.equal(picks[0], 'lookup-draft');
  // Prompt lookup, 3.5% behind by prior, is within the simulated noise (10%), so samples that noise puts ahead
  // have it measured again between rounds: cheap, as it is nearly as fast.
  assert.ok(cost <= truth['lookup-draft'] * 1.015, `auto ${cost.toFixed(3)} vs ${truth['lookup-draft'].toFixed(3)} ms/token: ${picks.join(',')}`);
  assert.ok(picks.filter((p) => p === 'lookup-draft').length >= 78, picks.join(','));
  assert.ok(picks.filter((p) => p !== 'lookup-draft' && p !== 'prompt-lookup').length <= 4, picks.join(','));
});

test('when the priors are wrong for a model (its draft model pays off), auto still finds the fastest', () => {
  const truth: Partial<Record<Strategy, number>> = { 'prompt-lookup': 3.6, lookahead: 3.3, autoregressive: 4, 'draft-model': 1.5, 'token-tree': 1.8, retrieval: 4.4 };
  const { picks } = run(truth, 400);
  const last = picks.slice(-100);
  assert.ok(last.filter((p) => p === 'draft-model').length >= 90, `draft-model in the last 100: ${last.filter((p) => p === 'draft-model').length}`);
});

test('priors that rank the token tree a hair above the draft model do not keep auto on the token tree when the draft model is 17% faster', () => {
  withPriors({ 'draft-model': 0.78, 'token-tree': 0.79 }, () => {
    const truth: Partial<Record<Strategy, number>> = { 'prompt-lookup': 3.6, lookahead: 3.3, autoregressive: 4, 'draft-model': 1.5, 'token-tree': 1.8, retrieval: 4.4 };
    const { picks } = run(truth, 400);
    // The token tree is found first; the draft model, measured faster than it, is measured again between rounds until the pairs decide.
    assert.ok(picks.indexOf('token-tree') < picks.indexOf('draft-model'), picks.join(','));
    const last = picks.slice(-100);
    assert.ok(last.filter((p) => p === 'draft-model').length >= 90, `draft-model in the last 100: ${last.filter((p) => p === 'draft-model').length}`);
  });
});

test('a candidate measured a little faster than the one in use is measured again between rounds without starving the others', () => {
  // Lookahead is 8% faster than prompt lookup (under the hysteresis, so never adopted) and is measured often;
  // every other candidate still gets its rounds.
  const truth: Partial<Record<Strategy, number>> = { 'prompt-lookup': 3.6, lookahead: 3.3, autoregressive: 4, 'draft-model': 7, 'token-tree': 7.5, retrieval: 6 };
  const { picks } = run(truth, 400);
  assert.ok(picks.slice(100).filter((p) => p === 'prompt-lookup').length >= 200, picks.join(','));
  for (const s of CANDIDATES) assert.ok(picks.includes(s), `${s} never measured: ${picks.join(',')}`);
});

test('a candidate measured slower than its prior said is dropped for the next best', () => {
  const truth: Partial<Record<Strategy, number>> = { 'prompt-lookup': 5, lookahead: 5.2, autoregressive: 4, 'draft-model': 2.8, 'token-tree': 5.5, retrieval: 4.4 };
  const { picks } = run(truth, 120);
  assert.ok(picks.slice(-40).filter((p) => p === 'draft-model').length >= 36, picks.slice(-40).join(','));
});

test('one lucky completion of another strategy does not displace the one in use', () => {
  const auto = new AutoSelector();
  for (let i = 0; i < 23; i++) {
    const s = auto.choose(CANDIDATES);
    assert.equal(s, 'prompt-lookup');
    auto.record(s, 32, 32 * 2.0);
  }
  const explored = auto.choose(CANDIDATES);
  assert.equal(explored, 'draft-model', 'the 24th request measures the next candidate by prior');
  auto.record(explored, 32, 32 * 1.8); // 10% faster on this one context
  assert.equal(auto.choose(CANDIDATES), 'prompt-lookup');
});

/**
 * Contexts differ in difficulty far more than strategies do: here prompt lookup is 20% cheaper than
 * the draft model on every context, but the first 40 contexts need 10 of prompt lookup's steps for 32
 * tokens and the rest 28. The draft model, measured once on an easy context, must not look faster than
 * prompt lookup measured on hard ones: the cause of auto trailing prompt lookup on the bench.
 */
function shifted(withYardstick: boolean): Strategy[] {
  const auto = new AutoSelector();
  const perStep: Partial<Record<Strategy, number>> = { 'prompt-lookup': 2, 'draft-model': 2.4, autoregressive: 3.2, lookahead: 4, 'token-tree': 4.4, retrieval: 4 };
  const picks: Strategy[] = [];
  for (let i = 0; i < 120; i++) {
    const ref = i < 40 ? 10 : 28;
    const s = auto.choose(CANDIDATES);
    picks.push(s);
    const ms = perStep[s]! * ref * (1 + 0.05 * Math.sin(i));
    if (withYardstick) auto.record(s, 32, ms, ref);
    else auto.record(s, 32, ms);
  }
  return picks;
}

test('measured per step of prompt lookup on the same completion, an easy context does not make another strategy look faster', () => {
  // Requests other than the exploring ones (every 24th) stay on prompt lookup.
  const exploited = (picks: Strategy[]) => picks.filter((_, i) => i >= 40 && (i + 1) % 24 !== 0);
  const hard = exploited(shifted(true));
  assert.ok(hard.every((p) => p === 'prompt-lookup'), hard.join(','));
  // Per token, as before: the draft model's easy sample made it look faster on hard contexts, again and again.
  const old = exploited(shifted(false));
  assert.ok(old.filter((p) => p === 'draft-model').length >= 3, old.join(','));
});

test('lookupSteps counts the steps prompt lookup needs for a completion, free of any model', () => {
  const prompt = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 1, 2];
  // The completion repeats the prompt's 3..12: after its first token, one draft of 8 covers 8 tokens, plus the bonus.
  assert.equal(lookupSteps(prompt, [3, 4, 5, 6, 7, 8, 9, 10, 11, 12]), 1);
  // Nothing to copy: one token a step.
  assert.equal(lookupSteps(prompt, [20, 21, 22, 23, 24]), 4);
  assert.equal(lookupSteps(prompt, [20]), 0);
  // It matches the engine's drafter: the steps of a real prompt-lookup completion.
  const out = [3, 4, 5, 30, 31, 3, 4, 5, 30, 31, 3, 4];
  assert.ok(lookupSteps(prompt, out) < out.length - 1);
});

test('exploration is cheap when the priors hold: strategies the priors put far behind wait four rounds, and each measurement that leaves one behind doubles its wait', () => {
  // The schedule below is worked out for the priors of an earlier report (ecd29dd's), pinned here, where the runner-up
  // is 20% behind prompt lookup; with the shipped priors it is 8% behind, inside this simulation's noise, and is
  // measured again between rounds whenever noise puts a sample ahead (the next test holds that to its cost).
  withPriors({ 'prompt-lookup': 1.48, 'draft-model': 1.23, 'token-tree': 1.11, lookahead: 1.08, autoregressive: 1, retrieval: 0.97 }, () => {
    const truth = Object.fromEntries(CANDIDATES.map((s) => [s, 4 / PRIOR_SPEEDUP[s]!])) as Record<Strategy, number>;
    const { picks, cost } = run(truth, 1000);
    const explored = picks.flatMap((p, i) => (p === 'prompt-lookup' ? [] : [i + 1]));
    // The draft model, the token tree and lookahead, plausible winners (within the slow factor, 1.4x, of prompt
    // lookup by prior), take turns from request 24; the draft model, first by prior, comes back after 72, 96, 192
    // and 384 requests: each measurement that leaves it behind doubles its wait, up to the longest (384).
    assert.deepEqual(picks.slice(0, 95).flatMap((p, i) => (p === 'prompt-lookup' ? [] : [`${i + 1}:${p}`])), ['24:draft-model', '48:token-tree', '72:lookahead']);
    assert.deepEqual(picks.flatMap((p, i) => (p === 'draft-model' ? [i + 1] : [])), [24, 96, 192, 384, 768]);
    // Autoregressive and retrieval, further behind by prior, wait four rounds (of 24 requests) past the others.
    for (const s of ['autoregressive', 'retrieval'] as const) assert.ok(!picks.slice(0, 120).includes(s), `${s} measured by request ${picks.indexOf(s) + 1}`);
    // Never more than one exploring request in 24, and fewer as measurements keep confirming prompt lookup.
    for (let i = 1; i < explored.length; i++) assert.ok(explored[i]! - explored[i - 1]! >= 24, explored.join(','));
    assert.ok(explored.filter((r) => r > 500).length <= explored.filter((r) => r <= 500).length / 2, explored.join(','));
    assert.ok(explored.length <= 24, `${explored.length} of 1000 requests explored: ${explored.join(',')}`);
    for (const s of CANDIDATES) assert.ok(picks.includes(s), `${s} never measured`);
    // 0.8% with the report's priors: the plausible winners run at 0.73-0.83x prompt lookup's speed, the rest at 0.66-0.68x.
    assert.ok(cost <= truth['prompt-lookup'] * 1.015, `auto ${cost.toFixed(3)} ms/token vs prompt lookup ${truth['prompt-lookup'].toFixed(3)}`);
  });
});

test('with the shipped priors holding, 1,000 requests cost at most 1.5% more than prompt lookup alone and every candidate is measured', () => {
  const truth = Object.fromEntries(CANDIDATES.map((s) => [s, 4 / PRIOR_SPEEDUP[s]!])) as Record<Strategy, number>;
  const { picks, cost } = run(truth, 1000);
  assert.equal(picks[0], 'prompt-lookup');
  for (const s of CANDIDATES) assert.ok(picks.includes(s), `${s} never measured`);
  assert.ok(cost <= truth['prompt-lookup'] * 1.015, `auto ${cost.toFixed(3)} ms/token vs prompt lookup ${truth['prompt-lookup'].toFixed(3)}`);
});

test('candidates measured by requests that named them are not explored: auto runs the fastest on every request', () => {
  // As in the benchmark, which runs every strategy on every prompt next to auto.
  const truth = Object.fromEntries(CANDIDATES.map((s) => [s, 4 / PRIOR_SPEEDUP[s]!])) as Record<Strategy, number>;
  const auto = new AutoSelector();
  const picks: Strategy[] = [];
  for (let i = 0; i < 300; i++) {
    for (const s of CANDIDATES) auto.record(s, 32, 32 * truth[s] * (1 + 0.1 * Math.sin(i + s.length)));
    picks.push(auto.choose(CANDIDATES));
    auto.record(picks.at(-1)!, 32, 32 * truth[picks.at(-1)!]);
  }
  assert.deepEqual([...new Set(picks)], ['prompt-lookup']);
});

test('a candidate that becomes faster after its wait grew is found within the longest wait (384 requests)', () => {
  // Lookahead is measured a little behind prompt lookup, so its wait keeps doubling; then the contexts change
  // and it is 40% faster: the next measurement moves auto to it.
  const auto = new AutoSelector();
  const perStep: Partial<Record<Strategy, number>> = { 'prompt-lookup': 2, lookahead: 2.1, autoregressive: 3.2, 'draft-model': 4, 'token-tree': 4.4, retrieval: 4 };
  const picks: Strategy[] = [];
  for (let i = 0; i < 1000; i++) {
    if (i === 500) perStep.lookahead = 1.2;
    const s = auto.choose(CANDIDATES);
    picks.push(s);
    auto.record(s, 32, perStep[s]! * 16, 16);
  }
  const first = picks.findIndex((p, i) => i >= 500 && p === 'lookahead');
  assert.ok(first >= 0 && first < 500 + 384, `lookahead first run after the change at request ${first + 1}`);
  assert.ok(picks.slice(-100).filter((p) => p === 'lookahead').length >= 95, picks.slice(-100).join(','));
});

/**
 * The benchmark's situation: every strategy is measured on every prompt next to auto, and a completion's
 * time is noisy (log-normal, σ as given; 5% of runs up to 3× slower), and on a busy machine bursts of
 * load slow every strategy alike for a while. Prompt lookup is fastest (lookahead 18% slower, as in the
 * report). Returns the share of auto's requests that ran another strategy.
 */
function noisyBench(sigma: number, bursts: number, runs = 40): number {
  const rnd = seededRandom(7);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());
  const truth: Partial<Record<Strategy, number>> = { 'prompt-lookup': 1, lookahead: 1.18, autoregressive: 1.37, 'draft-model': 1.67, 'token-tree': 1.83, retrieval: 1.83 };
  let other = 0;
  for (let run = 0; run < runs; run++) {
    const auto = new AutoSelector();
    let load = 1;
    for (let i = 0; i < 90; i++) {
      if (rnd() < bursts) load = rnd() < 0.5 ? 1 : 1 + 4 * rnd();
      const ms = (s: Strategy) => 48 * truth[s]! * load * Math.exp(sigma * gauss()) * (rnd() < 0.05 ? 1 + 2 * rnd() : 1);
      for (const s of CANDIDATES) auto.record(s, 48, ms(s), 48);
      const s = auto.choose(CANDIDATES);
      auto.record(s, 48, ms(s), 48);
      if (s !== 'prompt-lookup') other++;
    }
  }
  return other / (90 * runs);
}

test('noisy timings: auto compares medians of samples taken next to each other, so noise and bursts of load rarely move it off the fastest', () => {
  // A quiet machine (σ 0.2): with a moving average of samples and a first choice by one sample each, as before, 11.6%.
  const quiet = noisyBench(0.2, 0);
  assert.ok(quiet <= 0.02, `${(100 * quiet).toFixed(1)}% of requests off prompt lookup`);
  // A busy one (σ 0.35, a burst of up to 5× starting or ending on one prompt in ten): before, 24.7%.
  const busy = noisyBench(0.35, 0.1);
  assert.ok(busy <= 0.1, `${(100 * busy).toFixed(1)}% of requests off prompt lookup`);
});

test('in an editor (auto alone), a candidate 20% faster is adopted once five of its explorations were paired with the strategy in use', () => {
  const truth: Partial<Record<Strategy, number>> = { 'prompt-lookup': 2, lookahead: 1.6, autoregressive: 3.2, 'draft-model': 4, 'token-tree': 4.4, retrieval: 4 };
  const auto = new AutoSelector();
  const picks: Strategy[] = [];
  for (let i = 0; i < 400; i++) {
    const s = auto.choose(CANDIDATES);
    picks.push(s);
    auto.record(s, 32, truth[s]! * 16 * (1 + 0.05 * Math.sin(i)), 16);
  }
  const first = picks.findIndex((p, i) => p === 'lookahead' && picks[i + 1] === 'lookahead');
  assert.ok(first > 0 && first < 200, `lookahead kept from request ${first + 1}`);
  assert.ok(picks.slice(-100).filter((p) => p === 'lookahead').length >= 95, picks.slice(-100).join(','));
});
