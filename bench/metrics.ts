// Quality of an infilled span against the true one: exact match, edit similarity, chrF.

/** Levenshtein distance over UTF-16 code units (two rows, O(|a|·|b|) time). */
export function levenshtein(a: string, b: string): number {
  if (a === b) return 0;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  let cur = new Array<number>(b.length + 1);
  for (let i = 1; i <= a.length; i++) {
    cur[0] = i;
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    [prev, cur] = [cur, prev];
  }
  return prev[b.length]!;
}

/** 1 − Levenshtein / longer length, in [0, 1] (the "ES" of code-completion benchmarks); two empty strings score 1. */
export function editSimilarity(hyp: string, ref: string): number {
  const n = Math.max(hyp.length, ref.length);
  return n === 0 ? 1 : 1 - levenshtein(hyp, ref) / n;
}

export const exactMatch = (hyp: string, ref: string): boolean => hyp === ref;

function charNgrams(s: string, n: number): Map<string, number> {
  const m = new Map<string, number>();
  for (let i = 0; i + n <= s.length; i++) {
    const g = s.slice(i, i + n);
    m.set(g, (m.get(g) ?? 0) + 1);
  }
  return m;
}

/**
 * Sentence chrF in [0, 100], as sacreBLEU computes it by default (Popović 2015): character
 * n-grams of orders 1..6 with whitespace removed, precision and recall averaged over the orders
 * both sides have, then F with beta = 2.
 */
export function chrF(hyp: string, ref: string, order = 6, beta = 2): number {
  const h = hyp.replace(/\s+/g, '');
  const r = ref.replace(/\s+/g, '');
  let prec = 0;
  let rec = 0;
  let orders = 0;
  for (let n = 1; n <= order; n++) {
    const hg = charNgrams(h, n);
    const rg = charNgrams(r, n);
    const nh = Math.max(0, h.length - n + 1);
    const nr = Math.max(0, r.length - n + 1);
    if (nh === 0 || nr === 0) continue;
    let match = 0;
    for (const [g, c] of hg) match += Math.min(c, rg.get(g) ?? 0);
    prec += match / nh;
    rec += match / nr;
    orders++;
  }
  if (orders === 0) return 0;
  prec /= orders;
  rec /= orders;
  const b2 = beta * beta;
  return prec + rec > 0 ? (100 * (1 + b2) * prec * rec) / (b2 * prec + rec) : 0;
}

/** Decode tokens per second over runs: all their tokens over all their decode time (0 without time). */
export function decodeRate(runs: readonly { tokens: number; decodeMs: number }[]): number {
  const ms = runs.reduce((s, r) => s + r.decodeMs, 0);
  return ms > 0 ? (runs.reduce((s, r) => s + r.tokens, 0) * 1000) / ms : 0;
}

/** Mean prefill per run, ms (0 without runs): the prompt through every model the system runs. */
export function meanPrefillMs(runs: readonly { prefillMs: number }[]): number {
  return runs.length ? runs.reduce((s, r) => s + r.prefillMs, 0) / runs.length : 0;
}

/** Position-wise token agreement of outputs with their references: [matches, sum of the longer lengths]. */
export function agreementCounts(pairs: Iterable<readonly [output: readonly number[], reference: readonly number[]]>): [number, number] {
  let match = 0;
  let total = 0;
  for (const [out, ref] of pairs) {
    for (let i = 0; i < Math.min(out.length, ref.length); i++) if (out[i] === ref[i]) match++;
    total += Math.max(out.length, ref.length);
  }
  return [match, total];
}
