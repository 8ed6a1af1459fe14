// Trace → the compact view the visualiser draws: output positions for every draft node, the
// accepted path in order, the exit-layer strip, and the summary with its speed-up estimate.
// Pure: no `vscode`, so the unit tests feed it hand-built traces.
import { summarise, type CompletionTrace, type StepTrace, type TraceSummary } from '../../engine/trace';
import {
  MAX_NODES, MAX_STEPS, MAX_TOKEN_CHARS,
  type HistoryEntry, type SpeedupEstimate, type StripToken, type ViewNode, type ViewStep, type ViewSummary, type ViewTrace,
  isFollowed,
} from '../../protocol';

/** What the panel knows about one completion: the engine's trace plus where it was shown. */
export interface TraceSource {
  trace: CompletionTrace;
  summary?: TraceSummary;
  uri: string;
  languageId: string;
  shown: string;
  firstMs: number | null;
  totalMs: number | null;
  at: number;
  prefetch: boolean;
  /** Handed to the editor (see TraceRecord.served); a live decode has not been yet. */
  served?: boolean;
  live: boolean;
}

const MAX_SHOWN_CHARS = 2000;

const round = (x: number, digits = 4): number => (Number.isFinite(x) ? Number(x.toFixed(digits)) : 0);
const prob = (x: number | null): number | null => (x === null || !Number.isFinite(x) ? null : round(x));
const clip = (text: string): string => (text.length > MAX_TOKEN_CHARS ? `${text.slice(0, MAX_TOKEN_CHARS - 1)}…` : text);

/** Depth of each node below the last committed token (1 = a child of it); nodes with a broken parent get depth 1. */
export function nodeDepths(nodes: readonly { parent: number }[]): number[] {
  const depth: number[] = [];
  nodes.forEach((n, i) => {
    // The engine lists parents before children; a parent that is not earlier counts as the root.
    const p = n.parent >= 0 && n.parent < i ? depth[n.parent]! : 0;
    depth.push(p + 1);
  });
  return depth;
}

/** Indices of the accepted path, root first: the chain of accepted nodes hanging off the last committed token. */
export function acceptedPath(nodes: readonly { parent: number; status: string }[]): number[] {
  const path: number[] = [];
  let parent = -1;
  for (;;) {
    const next = nodes.findIndex((n, i) => i > parent && n.status === 'accepted' && n.parent === parent);
    if (next < 0) return path;
    path.push(next);
    parent = next;
  }
}

/** One step of the view; `base` is the output position of the step's first new token. */
export function viewStep(s: StepTrace, base: number): ViewStep {
  // A parent that is not an earlier node would make a cycle; it hangs off the committed token instead.
  const nodes = s.nodes.slice(0, MAX_NODES).map((n, i) => ({ ...n, parent: n.parent >= 0 && n.parent < i ? n.parent : -1 }));
  const depths = nodeDepths(nodes);
  const path = acceptedPath(nodes);
  const view: ViewStep = {
    step: s.step,
    drafter: s.drafter,
    nodes: nodes.map((n, i): ViewNode => ({
      text: clip(n.text),
      parent: n.parent,
      position: base + depths[i]! - 1,
      draftProb: prob(n.draftProb),
      targetProb: prob(n.targetProb),
      status: n.status,
      ...(n.exitLayer !== undefined ? { exitLayer: n.exitLayer } : {}),
    })),
    bonus: s.bonus
      ? { text: clip(s.bonus.text), position: base + path.length, prob: round(s.bonus.prob), kind: s.bonus.kind, ...(s.bonus.exitLayer !== undefined ? { exitLayer: s.bonus.exitLayer } : {}) }
      : null,
    emitted: s.emitted,
    accepted: path.length,
    draftMs: round(s.draftMs, 2),
    verifyMs: round(s.verifyMs, 2),
    totalMs: round(s.totalMs, 2),
  };
  if (s.remasked) view.remasked = s.remasked.slice(0, 4 * MAX_NODES).map((r) => ({ position: r.position, confidence: round(r.confidence) }));
  return view;
}

/** The output tokens in order, each with the step that produced it, its origin and its exit layer. */
export function stripTokens(steps: readonly ViewStep[]): StripToken[] {
  let out: StripToken[] = [];
  for (const s of steps) {
    // A Mask-Predict iteration revises the whole span: it replaces what came before.
    if (s.remasked) out = [];
    for (const i of acceptedPath(s.nodes)) {
      const n = s.nodes[i]!;
      out.push({ text: n.text, position: n.position, step: s.step, origin: 'accepted', ...(n.exitLayer !== undefined ? { exitLayer: n.exitLayer } : {}) });
    }
    if (s.bonus) {
      const b = s.bonus;
      out.push({ text: b.text, position: b.position, step: s.step, origin: b.kind, ...(b.exitLayer !== undefined ? { exitLayer: b.exitLayer } : {}) });
    }
  }
  return out;
}

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

/**
 * Estimated speed-up over autoregressive decoding. Speculative steps: tokens per step (the
 * summary's figure, `summarise`, so the panel shows one number for it) × the cost
 * of one target pass ÷ the cost of a whole step (draft + verify), from this trace's timings; the
 * target pass is measured on undrafted steps when there are some, otherwise the verify pass
 * stands in for it (it costs a little more, so the estimate leans low on a memory-bound device
 * and high on a compute-bound one). Early exit without drafts: deepest layer seen ÷ mean exit layer.
 */
export function estimateSpeedup(steps: readonly StepTrace[], tokensPerStep: number): SpeedupEstimate {
  const emitted = steps.reduce((a, s) => a + s.emitted, 0);
  if (steps.length === 0 || emitted === 0) return { value: null, method: 'no tokens were decoded' };
  if (steps.some((s) => s.remasked)) return { value: null, method: 'Mask-Predict refines a whole span per iteration; the trace has no target pass to compare with' };
  const drafted = steps.some((s) => s.nodes.length > 0);
  if (!drafted) {
    const layers = steps.map((s) => s.bonus?.exitLayer).filter((l): l is number => l !== undefined && l > 0);
    if (layers.length === steps.length) {
      const deepest = Math.max(...layers);
      return { value: deepest / mean(layers), method: `layers: deepest exit layer seen (${deepest}) ÷ mean exit layer (${mean(layers).toFixed(1)}); ignores the exit classifier's cost` };
    }
    return { value: 1, method: 'autoregressive decoding is the baseline: one target pass per token' };
  }
  // Untimed steps (the token straight after prefill) say nothing about step cost.
  const timed = steps.filter((s) => s.totalMs > 0);
  const plain = timed.filter((s) => s.nodes.length === 0 && s.verifyMs > 0).map((s) => s.verifyMs);
  const targetMs = plain.length > 0 ? mean(plain) : mean(timed.map((s) => s.verifyMs));
  const stepMs = mean(timed.map((s) => s.totalMs));
  if (timed.length === 0 || !(stepMs > 0) || !(targetMs > 0)) return { value: null, method: 'the trace has no step timings' };
  const perStep = tokensPerStep;
  const source = plain.length > 0 ? `target pass measured on ${plain.length} undrafted step${plain.length > 1 ? 's' : ''}` : 'verify pass as the cost of one target pass';
  return {
    value: (perStep * targetMs) / stepMs,
    method: `tokens per step (${perStep.toFixed(2)}) × target pass (${targetMs.toFixed(1)} ms) ÷ step incl. draft (${stepMs.toFixed(1)} ms); ${source}`,
  };
}

function exitLayers(steps: readonly ViewStep[]): number[] {
  return stripTokens(steps).map((t) => t.exitLayer).filter((l): l is number => l !== undefined);
}

/** Every figure comes from the engine's `summarise`, as in the status bar, the log and the history: one source. */
function summaryOf(t: CompletionTrace, steps: readonly ViewStep[], given?: TraceSummary): ViewSummary {
  const s = given ?? summarise(t);
  const layers = exitLayers(steps);
  const tokensPerStep = round(s.tokensPerStep);
  return {
    strategy: t.strategy,
    model: t.model,
    drafter: t.drafter,
    tokens: t.tokens,
    steps: s.steps,
    drafted: s.drafted,
    accepted: s.accepted,
    acceptanceRate: s.drafted === 0 ? null : round(s.acceptanceRate),
    meanAcceptedPerStep: round(s.meanAcceptedPerStep),
    tokensPerStep,
    tokensPerSecond: round(s.tokensPerSecond, 1),
    promptTokens: t.promptTokens,
    reusedTokens: t.reusedTokens,
    prefillMs: round(t.prefillMs, 1),
    decodeMs: round(t.decodeMs, 1),
    stopReason: t.stopReason,
    speedup: estimateSpeedup(t.steps, tokensPerStep),
    maxExitLayer: layers.length ? Math.max(...layers) : null,
    meanExitLayer: layers.length ? round(mean(layers), 2) : null,
  };
}

/** The compact view of one completion. */
export function viewTrace(src: TraceSource): ViewTrace {
  const t = src.trace;
  const kept = t.steps.slice(0, MAX_STEPS);
  const steps: ViewStep[] = [];
  let base = 0;
  for (const s of kept) {
    // A Mask-Predict iteration rewrites the span from its start; every other step appends.
    if (s.remasked) base = 0;
    steps.push(viewStep(s, base));
    base += s.emitted;
  }
  return {
    id: t.id,
    live: src.live,
    at: src.at,
    file: src.uri.split(/[\\/]/).pop() ?? src.uri,
    languageId: src.languageId,
    prefetch: src.prefetch,
    shown: src.shown.slice(0, MAX_SHOWN_CHARS),
    firstMs: src.firstMs === null ? null : round(src.firstMs, 1),
    totalMs: src.totalMs === null ? null : round(src.totalMs, 1),
    summary: summaryOf(t, steps, src.summary),
    steps,
    strip: stripTokens(steps),
    truncatedSteps: t.steps.length - kept.length,
  };
}

/** The history picker's row for one completion. */
export function historyEntry(src: TraceSource): HistoryEntry {
  const t = src.trace;
  const time = new Date(src.at).toTimeString().slice(0, 8);
  const file = src.uri.split(/[\\/]/).pop() ?? '';
  const prefetch = src.prefetch ? (src.served ? ' · prefetch, shown' : ' · prefetch (not shown)') : '';
  return { id: t.id, live: src.live, followed: isFollowed(src), label: `#${t.id} ${time} ${t.strategy} · ${t.tokens} tok${file ? ` · ${file}` : ''}${prefetch}${src.live ? ' · live' : ''}` };
}
