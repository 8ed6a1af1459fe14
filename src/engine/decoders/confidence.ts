// CALM's confidence measures (Schuster et al. 2022, section 3.5). The learned exit classifier (their
// third measure) is the model's own file (model/exitClassifier.ts); the others are pure functions.
import type { ExitClassifier } from '../model/exitClassifier';
import { expSum } from '../sampling';

export const CONFIDENCE_MEASURES = ['softmax', 'margin', 'saturation', 'classifier'] as const;
export type ConfidenceMeasure = (typeof CONFIDENCE_MEASURES)[number];
/** The setting: a measure, or 'auto' = the learned classifier where the model ships one, else softmax. */
export type ExitMeasureSetting = ConfidenceMeasure | 'auto';

export const MEASURE_INFO: Record<ConfidenceMeasure, string> = {
  softmax: 'top-1 probability of the exit\'s softmax',
  margin: 'top-1 minus top-2 probability of the exit\'s softmax',
  saturation: 'cosine similarity of this layer\'s hidden state with the previous layer\'s',
  classifier: 'a learned per-layer classifier on the hidden state (the model\'s exit_classifier.safetensors)',
};

/** Softmax measures need the LM head at every candidate exit; saturation and the classifier only at the exit itself. */
export const needsLogits = (m: ConfidenceMeasure): boolean => m === 'softmax' || m === 'margin';

/** Top-1 and top-2 softmax probabilities (temperature 1) and the argmax of `logits` ([vocab]), in one pass. */
export function topTwo(logits: Float32Array): { p1: number; p2: number; argmax: number } {
  let best = 0;
  let v1 = -Infinity;
  let v2 = -Infinity;
  for (let i = 0; i < logits.length; i++) {
    const v = logits[i]!;
    if (v > v1) {
      v2 = v1;
      v1 = v;
      best = i;
    } else if (v > v2) {
      v2 = v;
    }
  }
  const sum = expSum(logits, v1);
  return { p1: 1 / sum, p2: Math.exp(v2 - v1) / sum, argmax: best };
}

/** Cosine similarity of two hidden states ([width] each). */
export function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return na > 0 && nb > 0 ? dot / Math.sqrt(na * nb) : 0;
}

/**
 * The confidence of exiting after `layer` (1-based): from its logits ([vocab]) for the softmax measures,
 * from this layer's and the previous layer's hidden states for saturation and the classifier.
 */
export function confidence(m: ConfidenceMeasure, logits: Float32Array | null, h: Float32Array, previous: Float32Array, layer = 0, classifier?: ExitClassifier): number {
  if (m === 'saturation') return cosine(h, previous);
  if (m === 'classifier') {
    if (!classifier) throw new Error('confidence: the classifier measure needs the model\'s exit classifier');
    return classifier.score(layer, h, previous);
  }
  const t = topTwo(logits!);
  return m === 'softmax' ? t.p1 : t.p1 - t.p2;
}
