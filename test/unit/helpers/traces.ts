// Hand-built completion traces for the visualiser's tests: one per kind of decoder.
import type { CompletionTrace, StepTrace, TraceNode } from '../../../src/engine';

/** A draft node: text, parent, status, and optionally its probabilities and exit layer. */
export function node(text: string, parent: number, status: 'accepted' | 'rejected', extra: Partial<TraceNode> = {}): TraceNode {
  return { token: text.length, text, parent, draftProb: 0.8, targetProb: status === 'accepted' ? 0.9 : 0.1, status, ...extra };
}

export function step(i: number, nodes: TraceNode[], bonus: StepTrace['bonus'], ms: { draft?: number; verify?: number } = {}, extra: Partial<StepTrace> = {}): StepTrace {
  const accepted = nodes.filter((n) => n.status === 'accepted').length;
  const draftMs = ms.draft ?? 2;
  const verifyMs = ms.verify ?? 10;
  return { step: i, drafter: 'draft-model', nodes, bonus, emitted: accepted + (bonus ? 1 : 0), draftMs, verifyMs, totalMs: draftMs + verifyMs, ...extra };
}

export function trace(steps: StepTrace[], extra: Partial<CompletionTrace> = {}): CompletionTrace {
  const tokens = steps.reduce((a, s) => a + s.emitted, 0);
  return {
    id: 7, strategy: 'draft-model', model: 'hasten-target', drafter: 'hasten-draft-m', promptTokens: 40, reusedTokens: 30, tokens,
    output: Array.from({ length: tokens }, (_, i) => i), prefillMs: 5, decodeMs: steps.reduce((a, s) => a + s.totalMs, 0), steps, stopReason: 'length', ...extra,
  };
}

/**
 * A chain draft of two steps. Step 0: drafts "x", " =", " 1", ";" — the first two accepted, then the
 * target recovers " 2". Step 1: drafts "\n", "}" — both accepted, plus a bonus "\n".
 */
export function chainTrace(): CompletionTrace {
  return trace([
    step(0, [node('x', -1, 'accepted'), node(' =', 0, 'accepted'), node(' 1', 1, 'rejected'), node(';', 2, 'rejected')], { token: 9, text: ' 2', prob: 0.7, kind: 'recovered' }),
    step(1, [node('\n', -1, 'accepted'), node('}', 0, 'accepted')], { token: 9, text: '\n', prob: 0.95, kind: 'bonus' }),
  ]);
}

/**
 * A token tree of one step: the committed token has children "a" (accepted) and "b"; "a" has
 * "c" (accepted) and "d"; "c" has "e" (rejected); the target recovers "f" after "c".
 */
export function treeTrace(): CompletionTrace {
  return trace([
    step(0, [
      node('a', -1, 'accepted'), node('b', -1, 'rejected'), node('c', 0, 'accepted'), node('d', 0, 'rejected'), node('e', 2, 'rejected'),
    ], { token: 1, text: 'f', prob: 0.6, kind: 'recovered' }),
  ], { strategy: 'token-tree' });
}

/** CALM: no drafts; each step's bonus exits at some layer of 8 (the first after prefill at 8). */
export function earlyExitTrace(layers = [8, 3, 2, 8, 5, 3]): CompletionTrace {
  return trace(
    layers.map((l, i) => step(i, [], { token: i, text: `t${i}`, prob: 0.9, kind: 'bonus', exitLayer: l }, { draft: 0, verify: i === 0 ? 0 : 4 })),
    { strategy: 'early-exit', drafter: 'none' },
  );
}

/** Self-speculation: layer 2 drafts, the full 8 layers verify. */
export function selfSpecTrace(): CompletionTrace {
  return trace([
    step(0, [node('if', -1, 'accepted', { exitLayer: 2 }), node(' (', 0, 'accepted', { exitLayer: 2 }), node('x', 1, 'rejected', { exitLayer: 2 })], { token: 3, text: 'y', prob: 0.5, kind: 'recovered', exitLayer: 8 }),
    step(1, [node(')', -1, 'accepted', { exitLayer: 2 })], { token: 4, text: ' {', prob: 0.8, kind: 'bonus', exitLayer: 8 }),
  ], { strategy: 'self-speculation', drafter: 'layer-skip' });
}

/** Mask-Predict: three passes over a span of four tokens, re-masking fewer positions each time. */
export function maskPredictTrace(): CompletionTrace {
  const pass = (i: number, texts: string[], remasked: number[]) =>
    step(i, texts.map((t, k) => node(t, k - 1, 'accepted')), null, { draft: 6, verify: 0 }, {
      drafter: 'cmlm', emitted: texts.length, remasked: remasked.map((position) => ({ position, confidence: 0.2 })),
    });
  return trace([pass(0, ['a', 'a', 'a', 'a'], [1, 2, 3]), pass(1, ['a', 'b', 'c', 'c'], [3]), pass(2, ['a', 'b', 'c', 'd'], [])], { strategy: 'mask-predict', drafter: 'cmlm', tokens: 4 });
}
