// Speculative decoding: draft, verify, accept, roll back, update — one loop for every drafter,
// chains and trees alike.
import { Drafter } from '../drafters/types';
import { HastenError } from '../errors';
import { CausalModel } from '../model/causal';
import { choose, seededRandom } from '../sampling';
import { CompletionTrace, StepTrace } from '../trace';
import { Verdict, verifyRows } from '../verify/accept';
import { DraftTree } from '../verify/tree';
import { DecodeChunk, DecodeRequest, newTrace, Output, prefill } from './common';

export interface SpeculativeOptions {
  /** Most draft nodes verified in one pass. */
  maxNodes: number;
}

export async function* speculative(target: CausalModel, drafter: Drafter, req: DecodeRequest, strategy: string, o: SpeculativeOptions): AsyncGenerator<DecodeChunk, CompletionTrace> {
  if (req.prompt.length === 0) throw new HastenError('bad-request', 'The prompt is empty.', 'Decoding needs at least one prompt token.');
  const tk = target.folder.tokenizer;
  const trace = newTrace(strategy, target, drafter.name, req.prompt.length);
  const out = new Output(tk, req);
  const rand = seededRandom(req.sampling.seed);
  await drafter.begin(req.prompt, req.signal);
  const pre = await prefill(target, req.prompt, req.signal, req.heal);
  trace.reusedTokens = pre.reused;
  trace.prefillMs = pre.ms;
  const t0 = performance.now();
  const history = [...req.prompt];
  let pending = choose(pre.row, req.sampling, rand).token;
  history.push(pending);
  const first = out.push([pending]);
  yield { ids: first.ids, delta: first.delta };
  while (!out.done) {
    const room = Output.room(target);
    if (room < 0) {
      out.reason = 'context';
      break;
    }
    const s0 = performance.now();
    // 1. Draft (no deeper than the remaining budget and context).
    const budget = req.maxNewTokens - out.ids.length - 1;
    const tree = await drafter.draft({ history, maxNodes: o.maxNodes, maxDepth: Math.max(0, Math.min(room, budget)), sampling: req.sampling, rand, signal: req.signal });
    const s1 = performance.now();
    // 2. Verify: the pending token is the root; one pass over it and the tree.
    const logits = await target.forward([pending, ...tree.tokens], [-1, ...tree.parents.map((p) => p + 1)], req.signal);
    // 3. Accept.
    const verdict = verifyRows(tree, (node) => logits.row(node + 1), req.sampling, rand);
    // 4. Roll back: keep the root and the accepted path; everything else becomes a hole.
    target.commit([0, ...verdict.accepted.map((a) => a + 1)]);
    const newIds = [...verdict.accepted.map((a) => tree.tokens[a]!), verdict.bonus];
    history.push(...newIds);
    pending = verdict.bonus;
    // 5. Update the drafter (KV sync, adaptive length).
    drafter.update({ tree, accepted: verdict.accepted, history });
    const { ids, delta } = out.push(newIds);
    const s2 = performance.now();
    const step = stepTrace(trace.steps.length, drafter.name, tree, verdict, tk.tokenText.bind(tk), ids.length, s1 - s0, s2 - s1);
    trace.steps.push(step);
    yield { ids, delta, step };
  }
  trace.tokens = out.ids.length;
  trace.output = out.ids;
  trace.decodeMs = performance.now() - t0;
  trace.stopReason = out.reason ?? 'length';
  return trace;
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
