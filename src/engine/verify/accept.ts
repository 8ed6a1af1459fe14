// The acceptance rule, in one place, for chains and trees, greedy and sampled.
//
// Walk down from the root. At each node, try its children in order: a child with token x, drawn
// from the draft distribution q (one-hot at x for deterministic drafters), is accepted with
// probability min(1, p(x) / q(x)); on rejection the target distribution becomes the residual
// norm(max(0, p - q)) and the next child is tried against it (SpecInfer's multi-candidate
// rejection sampling). When no child is accepted, one token is drawn from what remains: the
// recovered token after a rejection, the bonus token when there was nothing left to try. The
// output distribution is exactly the target's (Leviathan et al. 2023; Chen et al. 2023; Miao et
// al. 2024). With greedy settings p is one-hot at the argmax, so the same rule accepts exactly the
// children that match the target's argmax and is lossless token for token.
import { argmax, distribution, isGreedy, SamplingOptions, sample } from '../sampling';
import { children, DraftTree } from './tree';

export interface Verdict {
  /** Draft nodes on the accepted path, root first. */
  accepted: number[];
  /** The token added after the accepted path. */
  bonus: number;
  /** 'bonus' when no child was rejected at the last node, 'recovered' after a rejection. */
  bonusKind: 'bonus' | 'recovered';
  /** Target probability of the bonus token (from the unmodified distribution). */
  bonusProb: number;
  /** [N] target probability of each node's token at its parent; null if its parent was never reached. */
  targetProbs: (number | null)[];
}

/**
 * Applies the acceptance rule. `targetAt(node)` returns the target distribution after `node`
 * (-1 = after the last committed token), already through temperature / top-k / top-p.
 */
export function verify(tree: DraftTree, targetAt: (node: number) => Float32Array, rand: () => number): Verdict {
  const targetProbs: (number | null)[] = tree.tokens.map(() => null);
  const accepted: number[] = [];
  let node = -1;
  for (;;) {
    const original = targetAt(node);
    let p = original;
    let rejectedHere = false;
    let next = -1;
    for (const c of children(tree, node)) {
      const x = tree.tokens[c]!;
      targetProbs[c] = original[x]!;
      const q = tree.probs[c] ?? null;
      const qx = q ? q[x]! : 1;
      const px = p[x]!;
      // u < p/q accepts; for greedy p is 0 or 1 and the draw cannot change the outcome.
      if (px > 0 && (px >= qx || rand() * qx < px)) {
        next = c;
        break;
      }
      rejectedHere = true;
      p = residual(p, q, x);
    }
    if (next === -1) {
      const bonus = sample(p, rand);
      return { accepted, bonus, bonusKind: rejectedHere ? 'recovered' : 'bonus', bonusProb: original[bonus]!, targetProbs };
    }
    accepted.push(next);
    node = next;
  }
}

/**
 * `verify` over logit rows: `rowAt(node)` is the target's logits after `node`, [vocab]. Greedy
 * verification of a deterministic draft needs only each row's argmax (`argmaxAt` when the caller
 * has it without the row: a graph's argmax output), so it skips building one-hot distributions
 * and residuals (two 8192-float arrays per node); the verdict is the same.
 */
export function verifyRows(tree: DraftTree, rowAt: (node: number) => Float32Array, s: SamplingOptions, rand: () => number, argmaxAt?: (node: number) => number): Verdict {
  if (readsArgmaxOnly(tree, s)) return verifyGreedy(tree, argmaxAt ?? ((node) => argmax(rowAt(node))), rand);
  return verify(tree, (node) => distribution(rowAt(node), s), rand);
}

/** Whether verifying `tree` under `s` needs only each row's argmax (greedy, deterministic draft): what a forward pass must read back. */
export function readsArgmaxOnly(tree: DraftTree, s: SamplingOptions): boolean {
  return isGreedy(s) && tree.probs.every((q) => q === null);
}

/**
 * The acceptance rule when every target distribution is one-hot at `argmaxAt(node)` and every draft
 * node is deterministic: a child is accepted iff it is the argmax; residuals stay one-hot at it.
 */
export function verifyGreedy(tree: DraftTree, argmaxAt: (node: number) => number, rand: () => number): Verdict {
  const targetProbs: (number | null)[] = tree.tokens.map(() => null);
  const accepted: number[] = [];
  let node = -1;
  for (;;) {
    const best = argmaxAt(node);
    let rejectedHere = false;
    let next = -1;
    for (const c of children(tree, node)) {
      const hit = tree.tokens[c] === best;
      targetProbs[c] = hit ? 1 : 0;
      if (hit) {
        next = c;
        break;
      }
      rejectedHere = true;
    }
    if (next === -1) {
      // verify() draws the bonus with sample(); one draw keeps the RNG stream the same.
      rand();
      return { accepted, bonus: best, bonusKind: rejectedHere ? 'recovered' : 'bonus', bonusProb: 1, targetProbs };
    }
    accepted.push(next);
    node = next;
  }
}

/** norm(max(0, p - q)); a null q is one-hot at x. */
export function residual(p: Float32Array, q: Float32Array | null, x: number): Float32Array {
  const out = new Float32Array(p.length);
  let sum = 0;
  for (let i = 0; i < p.length; i++) {
    const v = q ? Math.max(0, p[i]! - q[i]!) : i === x ? 0 : p[i]!;
    out[i] = v;
    sum += v;
  }
  if (sum <= 0) {
    // p <= q everywhere means p == q: the rejection had probability 0. Keep p to stay well-defined.
    out.set(p);
    return out;
  }
  for (let i = 0; i < out.length; i++) out[i]! /= sum;
  return out;
}
