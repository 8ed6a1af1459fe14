// CALM's learned exit classifier (Schuster et al. 2022, section 3.5): per layer that may exit, a
// logistic regression on that layer's hidden state predicting whether its greedy token equals the
// last layer's. Trained by models/toolchain/exit_classifier.py; its features are computed here
// exactly as there: x = [h / rms(h), cosine(h, previous layer's h)], score = sigmoid(w . x + b),
// rms(h) = sqrt(mean(h^2) + rms_norm_eps). A check is a dot product over a hidden state the layered
// runtime already returns, so unlike the softmax measures it needs no LM-head run per layer.
import fs from 'node:fs';
import path from 'node:path';
import { Checkpoint } from '../../build/safetensors';
import { cosine } from '../decoders/confidence';
import { HastenError } from '../errors';
import type { ModelFolder } from './folder';

export const EXIT_CLASSIFIER_FILE = 'exit_classifier.safetensors';

/** Whether a model folder ships a learned exit classifier (not whether it is valid: ExitClassifier.open says). */
export const hasExitClassifier = (dir: string): boolean => fs.existsSync(path.join(dir, EXIT_CLASSIFIER_FILE));

/** A probe the training script stored: hidden states at each exit layer and the score torch gave them. */
export interface ClassifierProbe {
  previous: Float32Array[];
  h: Float32Array[];
  score: Float32Array;
}

const corrupt = (file: string, what: string) =>
  new HastenError('model-corrupt', `${file}: ${what}.`, 'Train it again (/usr/bin/python3 models/toolchain/exit_classifier.py) or pick another exit measure (softmax, margin, saturation).');

export class ExitClassifier {
  private constructor(
    /** Exit layers covered: 1..layers (the model's depth minus one). */
    readonly layers: number,
    readonly width: number,
    private readonly weight: Float32Array, // [layers, width + 1]
    private readonly bias: Float32Array, // [layers]
    private readonly eps: number,
    private readonly source: Checkpoint,
  ) {}

  /** The folder's classifier; a clear error when it has none or the file does not fit the model. */
  static open(folder: ModelFolder): ExitClassifier {
    const file = path.join(folder.dir, EXIT_CLASSIFIER_FILE);
    if (!fs.existsSync(file)) {
      throw new HastenError('variant-missing', `${folder.name} has no learned exit classifier (${EXIT_CLASSIFIER_FILE}).`,
        'Use exitMeasure softmax, margin or saturation with this model; the bundled target ships a classifier (models/toolchain/exit_classifier.py trains one).');
    }
    let ck: Checkpoint;
    try {
      ck = Checkpoint.openFile(file);
    } catch (err) {
      throw corrupt(file, (err as Error).message);
    }
    const layers = folder.config.numLayers - 1;
    const hiddenSize = folder.raw.hidden_size as number; // parseConfig checked it is a positive integer
    const read = (name: string, shape: number[]): Float32Array => {
      if (!ck.has(name)) throw corrupt(file, `the tensor ${name} is missing`);
      const got = ck.info(name).shape;
      if (got.length !== shape.length || got.some((d, i) => d !== shape[i])) throw corrupt(file, `${name} has shape [${got.join(', ')}], but a ${layers + 1}-layer model of width ${hiddenSize} needs [${shape.join(', ')}]`);
      let v: Float32Array;
      try {
        v = ck.read(name, shape);
      } catch (err) {
        throw corrupt(file, (err as Error).message);
      }
      if (!v.every(Number.isFinite)) throw corrupt(file, `${name} holds a value that is not finite`);
      return v;
    };
    const weight = read('weight', [layers, hiddenSize + 1]);
    const bias = read('bias', [layers]);
    const e = folder.raw.rms_norm_eps;
    const eps = typeof e === 'number' && e > 0 && e < 1 ? e : 1e-6;
    return new ExitClassifier(layers, hiddenSize, weight, bias, eps, ck);
  }

  /** The probe stored beside the weights (check.prev, check.h, check.score), or null when the file has none. */
  probe(): ClassifierProbe | null {
    const ck = this.source;
    if (!ck.has('check.score')) return null;
    const rows = (name: string) => {
      const a = ck.read(name, [this.layers, this.width]);
      return Array.from({ length: this.layers }, (_, i) => a.subarray(i * this.width, (i + 1) * this.width));
    };
    return { previous: rows('check.prev'), h: rows('check.h'), score: ck.read('check.score', [this.layers]) };
  }

  /** The probability that exiting after `layer` (1-based, 1..layers) gives the last layer's token. */
  score(layer: number, h: Float32Array, previous: Float32Array): number {
    if (!(layer >= 1 && layer <= this.layers)) throw new HastenError('bad-request', `The exit classifier covers layers 1..${this.layers}, not ${layer}.`, 'Exit only below the last layer.');
    const w = this.weight.subarray((layer - 1) * (this.width + 1), layer * (this.width + 1));
    let sq = 0;
    let dot = 0;
    for (let i = 0; i < this.width; i++) {
      const x = h[i]!;
      sq += x * x;
      dot += w[i]! * x;
    }
    const z = this.bias[layer - 1]! + dot / Math.sqrt(sq / this.width + this.eps) + w[this.width]! * cosine(h, previous);
    return 1 / (1 + Math.exp(-z));
  }
}
