// Pure functions over logits: greedy choice, the sampling transform, and a seeded RNG.

/** Settings that turn logits into the distribution tokens are drawn from. */
export interface SamplingOptions {
  /** 0 means greedy (argmax). */
  temperature: number;
  /** 0 disables top-k. */
  topK: number;
  /** 1 disables top-p. */
  topP: number;
  seed: number;
}

export const GREEDY: SamplingOptions = { temperature: 0, topK: 0, topP: 1, seed: 0 };

export const isGreedy = (s: SamplingOptions): boolean => s.temperature <= 0;

/** Index of the largest value; ties go to the lowest index, as in torch. */
export function argmax(values: Float32Array): number {
  let best = 0;
  let bestValue = values[0] ?? -Infinity;
  for (let i = 1; i < values.length; i++) {
    const v = values[i]!;
    if (v > bestValue) {
      bestValue = v;
      best = i;
    }
  }
  return best;
}

/** 2^k for k = -1022..0, at index k + 1022. */
const POW2 = Float64Array.from({ length: 1023 }, (_, i) => 2 ** (i - 1022));

/**
 * e^d for d <= 0 (0 below 2^-1022), within 6e-9 of Math.exp relative: d = k ln 2 + r with |r| <= ln 2 / 2,
 * e^r by its degree-7 Taylor polynomial (error below r^8 / 8! = 5.2e-9), 2^k from a table: inlined
 * arithmetic, no call into Math.exp and its special cases. A softmax's normaliser calls it once per
 * vocabulary entry: a draft model's confidence in its token, CALM's exit test and Mask-Predict's token
 * probabilities each sum 8192 or more of them per row, several rows per target step.
 */
export function expNonPositive(d: number): number {
  const k = Math.round(d * Math.LOG2E);
  if (k < -1022) return 0;
  const r = d - k * Math.LN2;
  const p = 1 + r * (1 + r * (1 / 2 + r * (1 / 6 + r * (1 / 24 + r * (1 / 120 + r * (1 / 720 + r / 5040))))));
  return p * POW2[k + 1022]!;
}

/** Sum over `logits` of e^(x - max), for a `max` no entry exceeds: the normaliser of their softmax (see expNonPositive). */
export function expSum(logits: Float32Array, max: number): number {
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += expNonPositive(logits[i]! - max);
  return sum;
}

/** Softmax of `logits / temperature` into a new array. */
export function softmax(logits: Float32Array, temperature = 1): Float32Array {
  const out = new Float32Array(logits.length);
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > max) max = logits[i]!;
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    const e = Math.exp((logits[i]! - max) / temperature);
    out[i] = e;
    sum += e;
  }
  for (let i = 0; i < out.length; i++) out[i]! /= sum;
  return out;
}

/**
 * The target distribution: softmax at the temperature, then top-k and top-p truncation, renormalised.
 * With temperature 0 it is one-hot on the argmax, so greedy decoding is the same rule.
 */
export function distribution(logits: Float32Array, s: SamplingOptions): Float32Array {
  if (isGreedy(s)) {
    const out = new Float32Array(logits.length);
    out[argmax(logits)] = 1;
    return out;
  }
  const p = softmax(logits, s.temperature);
  if ((s.topK > 0 && s.topK < p.length) || s.topP < 1) {
    const order = Array.from(p.keys()).sort((a, b) => p[b]! - p[a]! || a - b);
    const keep = new Uint8Array(p.length);
    let mass = 0;
    const limit = s.topK > 0 ? Math.min(s.topK, order.length) : order.length;
    for (let r = 0; r < limit; r++) {
      keep[order[r]!] = 1;
      mass += p[order[r]!]!;
      if (mass >= s.topP) break;
    }
    let sum = 0;
    for (let i = 0; i < p.length; i++) {
      if (!keep[i]) p[i] = 0;
      sum += p[i]!;
    }
    for (let i = 0; i < p.length; i++) p[i]! /= sum;
  }
  return p;
}

/**
 * The next token from a logits row, and its probability under `distribution`. Same result as
 * `sample(distribution(logits, s), rand)`, but greedy needs no distribution: argmax, probability 1.
 */
export function choose(logits: Float32Array, s: SamplingOptions, rand: () => number): { token: number; prob: number } {
  if (isGreedy(s)) {
    // sample() would draw once; drawing here too keeps the RNG stream the same either way.
    rand();
    return { token: argmax(logits), prob: 1 };
  }
  const p = distribution(logits, s);
  const token = sample(p, rand);
  return { token, prob: p[token]! };
}

/**
 * `choose` for row i of a block's logits. Greedy reads only the row's argmax, which may be all a
 * device brought back (`Logits` with `read: 'argmax'`); sampling reads the row.
 */
export function chooseAt(logits: { row(i: number): Float32Array; argmax(i: number): number }, i: number, s: SamplingOptions, rand: () => number): { token: number; prob: number } {
  if (!isGreedy(s)) return choose(logits.row(i), s, rand);
  rand();
  return { token: logits.argmax(i), prob: 1 };
}

/** Draws an index from a probability vector. */
export function sample(p: Float32Array, rand: () => number): number {
  let u = rand();
  for (let i = 0; i < p.length; i++) {
    u -= p[i]!;
    if (u < 0) return i;
  }
  // Rounding left a sliver of mass: fall back to the last non-zero entry.
  for (let i = p.length - 1; i >= 0; i--) if (p[i]! > 0) return i;
  return 0;
}

/** mulberry32: small, fast and seedable; enough for sampling tokens reproducibly. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
