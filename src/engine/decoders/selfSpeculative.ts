// LayerSkip self-speculation (Elhoushi et al. 2024), lossless: draft k tokens with the first E
// layers, verify them with layers E..L-1 in one pass that reuses the drafting's K/V and layer-E
// hidden states, accept with the one acceptance rule, roll back rejected slots in every layer.
import { LayerSkipDraft, LayerSkipDrafter } from '../drafters/layerSkip';
import { throwIfAborted } from '../errors';
import { Logits } from '../model/causal';
import { Hidden, LayeredModel } from '../model/layered';
import { chooseAt } from '../sampling';
import { CompletionTrace, StepTrace } from '../trace';
import { Verdict, verifyRows } from '../verify/accept';
import { DraftTree } from '../verify/tree';
import { decodeLoop, DecodeChunk, DecodeRequest, opening, Output } from './common';
import { firstChunk, prefillLayered } from './earlyExit';

/**
 * The verification pass over the root (`pending`) and the chain. The root and every draft but the
 * last already went through layers 0..E-1 while drafting; only the last draft still needs them.
 * Then layers E..L-1 run once over all k+1 rows. Returns logits [k+1, vocab] and the rows' slots.
 */
export async function verifyPass(model: LayeredModel, pending: number, tree: DraftTree, d: LayerSkipDraft, signal?: AbortSignal): Promise<{ logits: Logits; slots: number[] }> {
  const L = model.numLayers;
  const k = tree.tokens.length;
  if (k === 0) {
    const slots = model.allocate(1);
    const h = await model.run(0, L, slots, await model.embed([pending]));
    return { logits: await model.logits(h), slots };
  }
  const E = d.exitLayer;
  const lastSlot = model.allocate(1);
  const lastH = await model.run(0, E, lastSlot, await model.embed([tree.tokens[k - 1]!]));
  throwIfAborted(signal);
  const slots = [...d.slots, ...lastSlot];
  const h = await model.run(E, L, slots, Hidden.concat([...d.hidden, lastH]));
  return { logits: await model.logits(h), slots };
}

export async function* selfSpeculative(model: LayeredModel, drafter: LayerSkipDrafter, req: DecodeRequest, maxNodes: number, strategy = 'self-speculation'): AsyncGenerator<DecodeChunk, CompletionTrace> {
  const L = model.numLayers;
  const { tk, trace, out, rand, first: row0 } = await opening(model, req, strategy, drafter.name, () => prefillLayered(model, req.prompt, req.signal, req.heal));
  const history = [...req.prompt];
  const c0 = chooseAt(row0, 0, req.sampling, rand);
  let pending = c0.token;
  history.push(pending);
  const first = firstChunk(trace, out, pending, c0.prob, L, tk.tokenText(pending));
  return yield* decodeLoop(trace, out, first, () => Output.room(model), async (room) => {
    const s0 = performance.now();
    // 1. Draft with layers 0..E-1 (no deeper than the remaining budget and context).
    const budget = req.maxNewTokens - out.ids.length - 1;
    const tree = await drafter.draft({ history, maxNodes, maxDepth: Math.max(0, Math.min(room, budget)), sampling: req.sampling, rand, signal: req.signal });
    const d = drafter.last!;
    const s1 = performance.now();
    // 2. Verify with layers E..L-1, reusing the drafting's K/V and hidden states.
    const { logits, slots } = await verifyPass(model, pending, tree, d, req.signal);
    // 3. Accept.
    const verdict = verifyRows(tree, (node) => logits.row(node + 1), req.sampling, rand);
    // 4. Roll back: rejected drafts become holes in every layer; the root and the accepted path stay.
    const kept = 1 + verdict.accepted.length;
    model.drop(slots.slice(kept));
    model.commit([pending, ...verdict.accepted.map((a) => tree.tokens[a]!)], slots.slice(0, kept));
    model.maybeCompact();
    const newIds = [...verdict.accepted.map((a) => tree.tokens[a]!), verdict.bonus];
    history.push(...newIds);
    pending = verdict.bonus;
    // 5. Update: acceptance adapts k at this E, time per token scores E.
    drafter.update({ tree, accepted: verdict.accepted, history });
    const s2 = performance.now();
    return { newIds, trace: (emitted, n) => stepTrace(n, drafter.name, tree, verdict, (id) => tk.tokenText(id), d.exitLayer, L, emitted, s1 - s0, s2 - s1) };
  });
}

/** Drafted nodes exited at layer E; the bonus (or recovered) token came from the full depth L. */
function stepTrace(n: number, drafter: string, tree: DraftTree, v: Verdict, text: (id: number) => string, E: number, L: number,
  emitted: number, draftMs: number, verifyMs: number): StepTrace {
  const accepted = new Set(v.accepted);
  return {
    step: n,
    drafter,
    nodes: tree.tokens.map((token, i) => ({
      token, text: text(token), parent: tree.parents[i]!, draftProb: tree.confidence[i] ?? null,
      targetProb: v.targetProbs[i] ?? null, status: accepted.has(i) ? 'accepted' : 'rejected', exitLayer: E,
    })),
    bonus: { token: v.bonus, text: text(v.bonus), prob: v.bonusProb, kind: v.bonusKind, exitLayer: L },
    emitted,
    draftMs,
    verifyMs,
    totalMs: draftMs + verifyMs,
  };
}
