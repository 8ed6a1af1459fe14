// The acceptance rule with hand-built distributions: small named cases, plus a statistical test
// that rejection sampling reproduces the target distribution.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { verify, verifyRows, residual } from '../../src/engine/verify/accept';
import { chain, DraftTree, emptyTree, trieOf } from '../../src/engine/verify/tree';
import { argmax, choose, distribution, expNonPositive, expSum, GREEDY, sample, seededRandom, softmax } from '../../src/engine/sampling';

const V = 6;
/** One-hot greedy target: after node n the target's argmax is want[n + 1]. */
function greedyTarget(want: number[]): (node: number) => Float32Array {
  return (node) => {
    const logits = new Float32Array(V).fill(0);
    logits[want[node + 1]!] = 5;
    return distribution(logits, GREEDY);
  };
}

describe('verify: greedy', () => {
  test('perfect match: every node accepted, then a bonus token', () => {
    const v = verify(chain([1, 2, 3]), greedyTarget([1, 2, 3, 4]), seededRandom(1));
    assert.deepEqual(v.accepted, [0, 1, 2]);
    assert.equal(v.bonus, 4);
    assert.equal(v.bonusKind, 'bonus');
    assert.deepEqual(v.targetProbs, [1, 1, 1]);
  });

  test('early mismatch: stops at the first wrong token and recovers the target token', () => {
    const v = verify(chain([1, 5, 3]), greedyTarget([1, 2, 3, 4]), seededRandom(1));
    assert.deepEqual(v.accepted, [0]);
    assert.equal(v.bonus, 2);
    assert.equal(v.bonusKind, 'recovered');
    assert.deepEqual(v.targetProbs, [1, 0, null]);
  });

  test('mismatch at the first token accepts nothing', () => {
    const v = verify(chain([0, 2]), greedyTarget([1, 2, 3]), seededRandom(1));
    assert.deepEqual(v.accepted, []);
    assert.equal(v.bonus, 1);
  });

  test('empty draft: plain decoding, the bonus is the target token', () => {
    const v = verify(emptyTree(), greedyTarget([3]), seededRandom(1));
    assert.deepEqual(v.accepted, []);
    assert.equal(v.bonus, 3);
    assert.equal(v.bonusKind, 'bonus');
  });

  test('tree with a rejected branch: the matching sibling is followed', () => {
    // root children: 4 (wrong) and 1 (right); under 1: 2 (right) and 5 (wrong)
    const tree = trieOf([[4, 0], [1, 5], [1, 2, 3]], 16);
    const want = new Map<number, number>([[-1, 1]]);
    tree.tokens.forEach((t, i) => want.set(i, t === 1 ? 2 : t === 2 ? 3 : t === 3 ? 0 : 0));
    const v = verify(tree, (node) => {
      const l = new Float32Array(V);
      l[want.get(node)!] = 5;
      return distribution(l, GREEDY);
    }, seededRandom(1));
    const path = v.accepted.map((i) => tree.tokens[i]);
    assert.deepEqual(path, [1, 2, 3]);
    assert.equal(v.bonus, 0);
    const rejected = tree.tokens.map((t, i) => [t, i] as const).filter(([, i]) => !v.accepted.includes(i)).map(([t]) => t);
    assert.deepEqual(rejected.sort(), [0, 4, 5]);
  });
});

describe('verify: rejection sampling', () => {
  test('residual is max(0, p - q) renormalised, and one-hot q zeroes the rejected token', () => {
    const p = Float32Array.from([0.5, 0.3, 0.2]);
    const q = Float32Array.from([0.2, 0.6, 0.2]);
    const r = residual(p, q, 1);
    assert.ok(Math.abs(r[0]! - 1) < 1e-6 && r[1] === 0 && Math.abs(r[2]!) < 1e-6);
    const r2 = residual(p, null, 0);
    assert.ok(r2[0] === 0 && Math.abs(r2[1]! - 0.6) < 1e-6 && Math.abs(r2[2]! - 0.4) < 1e-6);
  });

  /** Chi-square statistic of observed counts against expected probabilities. */
  function chi2(counts: number[], p: number[], n: number): number {
    return counts.reduce((s, c, i) => s + (c - n * p[i]!) ** 2 / (n * p[i]!), 0);
  }

  test('a sampled draft token plus the acceptance rule reproduces the target distribution', () => {
    const p = [0.05, 0.4, 0.25, 0.2, 0.1];
    const q = [0.3, 0.1, 0.3, 0.1, 0.2];
    const rand = seededRandom(7);
    const n = 40_000;
    const counts = new Array(p.length).fill(0);
    for (let i = 0; i < n; i++) {
      // Draw the draft token from q, as a sampling draft model does.
      let u = rand();
      let x = 0;
      while (u >= q[x]! && x < q.length - 1) u -= q[x++]!;
      const tree: DraftTree = { tokens: [x], parents: [-1], probs: [Float32Array.from(q)], confidence: [q[x]!] };
      const v = verify(tree, () => Float32Array.from(p), rand);
      counts[v.accepted.length ? x : v.bonus]++;
    }
    // 4 degrees of freedom: chi2 < 18.5 at p = 0.001. A wrong residual or acceptance test fails by far.
    assert.ok(chi2(counts, p, n) < 18.5, `chi2 ${chi2(counts, p, n).toFixed(1)} for counts ${counts}`);
    // And the draft's own distribution is far away (the test can fail).
    assert.ok(chi2(counts, q, n) > 1000);
  });

  test('deterministic tree proposals (lookup drafts) keep the target distribution too', () => {
    const p = [0.1, 0.5, 0.3, 0.1];
    const rand = seededRandom(11);
    const n = 40_000;
    const counts = new Array(p.length).fill(0);
    for (let i = 0; i < n; i++) {
      const tree = trieOf([[1], [2]], 8); // two sibling candidates, no draft probabilities
      const v = verify(tree, () => Float32Array.from(p), rand);
      counts[v.accepted.length ? tree.tokens[v.accepted[0]!]! : v.bonus]++;
    }
    assert.ok(chi2(counts, p, n) < 16.3, `chi2 ${chi2(counts, p, n).toFixed(1)} for counts ${counts}`);
  });
});

describe('greedy fast path (argmax instead of one-hot distributions)', () => {
  /** A random deterministic tree over a small vocabulary, and random logits rows per node. */
  function randomCase(rand: () => number): { tree: DraftTree; rows: Float32Array[] } {
    const seqs = Array.from({ length: 1 + Math.floor(rand() * 3) }, () => Array.from({ length: Math.floor(rand() * 5) }, () => Math.floor(rand() * 3)));
    const tree = trieOf(seqs, 12);
    // Small integer logits make ties common, so the lowest-index tie rule is exercised too.
    const rows = Array.from({ length: tree.tokens.length + 1 }, () => Float32Array.from({ length: V }, () => Math.floor(rand() * 3)));
    return { tree, rows };
  }

  test('verifyRows gives the verdict of verify over distributions, and leaves the RNG where verify does', () => {
    const rand = seededRandom(5);
    for (let i = 0; i < 500; i++) {
      const { tree, rows } = randomCase(rand);
      const [ra, rb] = [seededRandom(i), seededRandom(i)];
      const want = verify(tree, (n) => distribution(rows[n + 1]!, GREEDY), ra);
      const got = verifyRows(tree, (n) => rows[n + 1]!, GREEDY, rb);
      assert.deepEqual(got, want);
      assert.equal(rb(), ra());
    }
  });

  test('choose equals sample(distribution(...)) with its probability, greedy and sampled', () => {
    const rand = seededRandom(9);
    for (const s of [GREEDY, { temperature: 0.8, topK: 3, topP: 0.9, seed: 0 }]) {
      for (let i = 0; i < 200; i++) {
        const logits = Float32Array.from({ length: V }, () => Math.floor(rand() * 4));
        const [ra, rb] = [seededRandom(i), seededRandom(i)];
        const p = distribution(logits, s);
        const token = sample(p, ra);
        assert.deepEqual(choose(logits, s, rb), { token, prob: p[token]! });
        assert.equal(rb(), ra());
      }
    }
  });
});

describe('softmax normaliser (expNonPositive, expSum)', () => {
  test('e^d agrees with Math.exp within 1e-8 relative over the whole range, exactly 1 at 0, 0 far below', () => {
    let worst = 0;
    for (let d = -700; d <= 0; d += 0.000731) worst = Math.max(worst, Math.abs(expNonPositive(d) / Math.exp(d) - 1));
    for (const d of [-1e-12, -0.5 * Math.LN2, -Math.LN2, -30.5, -87.3]) worst = Math.max(worst, Math.abs(expNonPositive(d) / Math.exp(d) - 1));
    assert.ok(worst < 1e-8, `worst relative error ${worst}`);
    assert.equal(expNonPositive(0), 1);
    assert.equal(expNonPositive(-800), 0);
    assert.equal(expNonPositive(-Infinity), 0);
  });

  test('expSum is the softmax normaliser: the probabilities it gives match softmax()', () => {
    const rand = seededRandom(7);
    const logits = Float32Array.from({ length: 8192 }, () => (rand() - 0.6) * 40);
    let max = -Infinity;
    for (const x of logits) max = Math.max(max, x);
    const sum = expSum(logits, max);
    const p = softmax(logits);
    for (const i of [0, 1, 4095, 8191, argmax(logits)]) assert.ok(Math.abs(Math.exp(logits[i]! - max) / sum - p[i]!) <= 1e-7 * Math.max(p[i]!, 1e-30) + 1e-12, `entry ${i}`);
  });
});
