// Speculative decoding: draft, verify, accept, roll back, update — one loop for every drafter,
// chains and trees alike.
import { Drafter } from '../drafters/types';
import { HastenError } from '../errors';
import { CausalModel } from '../model/causal';
import { chooseAt } from '../sampling';
import { CompletionTrace, StepTrace } from '../trace';
import { readsArgmaxOnly, Verdict, verifyRows } from '../verify/accept';
import { DraftTree } from '../verify/tree';
import { decodeLoop, DecodeChunk, DecodeRequest, opening, Output, plainFirst, prefill } from './common';

export interface SpeculativeOptions {
  /** Most draft nodes verified in one pass. */
  maxNodes: number;
}

export async function* speculative(target: CausalModel, drafter: Drafter, req: DecodeRequest, strategy: string, o: SpeculativeOptions): AsyncGenerator<DecodeChunk, CompletionTrace> {
  if (req.prompt.length === 0) throw new HastenError('bad-request', 'The prompt is empty.', 'Decoding needs at least one prompt token.');
  // Prefill is the prompt through the target and then through the drafter (a draft model's own cache), timed together.
  const { tk, trace, out, rand, first } = await opening(target, req, strategy, drafter.name, async () => {
    const t0 = performance.now();
    const pre = await prefill(target, req.prompt, req.signal, req.heal, req.sampling);
    await drafter.begin(req.prompt, req.signal);
    return { ...pre, ms: performance.now() - t0 };
  });
  const history = [...req.prompt];
  let pending = chooseAt(first, 0, req.sampling, rand).token;
  history.push(pending);
  return yield* decodeLoop(trace, out, plainFirst(out, pending), () => Output.room(target), async (room) => {
    const s0 = performance.now();
    // 1. Draft (no deeper than the remaining budget and context).
    const budget = req.maxNewTokens - out.ids.length - 1;
    const tree = await drafter.draft({ history, maxNodes: o.maxNodes, maxDepth: Math.max(0, Math.min(room, budget)), sampling: req.sampling, rand, signal: req.signal });
    const s1 = performance.now();
    const by = drafter.stepDrafter ?? drafter.name;
    // 2. Verify: the pending token is the root; one pass over it and the tree.
    // Greedy verification of a deterministic draft reads only each row's argmax (on a device, 8 bytes a row).
    const read = readsArgmaxOnly(tree, req.sampling) ? 'argmax' : 'rows';
    const logits = await target.forward([pending, ...tree.tokens], [-1, ...tree.parents.map((p) => p + 1)], req.signal, { read });
    // 3. Accept.
    const verdict = verifyRows(tree, (node) => logits.row(node + 1), req.sampling, rand, (node) => logits.argmax(node + 1));
    // 4. Roll back: keep the root and the accepted path; the rest of the block is dropped.
    target.commit([0, ...verdict.accepted.map((a) => a + 1)]);
    const newIds = [...verdict.accepted.map((a) => tree.tokens[a]!), verdict.bonus];
    history.push(...newIds);
    pending = verdict.bonus;
    // 5. Update the drafter (KV sync, adaptive length).
    drafter.update({ tree, accepted: verdict.accepted, history });
    const s2 = performance.now();
    return { newIds, trace: (emitted, n) => stepTrace(n, by, tree, verdict, tk.tokenText.bind(tk), emitted, s1 - s0, s2 - s1) };
  });
}

export function stepTrace(n: number, drafter: string, tree: DraftTree, v: Verdict, text: (id: number) => string, emitted: number, draftMs: number, verifyMs: number): StepTrace {
  const accepted = new Set(v.accepted);
  return {
    step: n,
    drafter,
    nodes: tree.tokens.map((token, i) => ({
      token, text: text(token), parent: tree.parents[i]!, draftProb: tree.confidence[i] ?? null,
      targetProb: v.targetProbs[i] ?? null, status: accepted.has(i) ? 'accepted' : 'rejected',
    })),
    bonus: { token: v.bonus, text: text(v.bonus), prob: v.bonusProb, kind: v.bonusKind },
    emitted,
    draftMs,
    verifyMs,
    totalMs: draftMs + verifyMs,
  };
}
