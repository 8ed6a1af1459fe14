// What differs between standard (Optimum-style) exports, read from the graph's own input metadata
// as transformers.js does: whether it takes position_ids, whether it is the older merged decoder
// with a use_cache_branch flag, and whether its K/V and logits are float16. The KV cache holds the
// graph's own K/V type (float16 as Uint16Array), so nothing is converted per step but the logits:
// converting the cache both ways cost 75 ms a step at 1,000 tokens of a 0.5B model's context.
import * as ort from 'onnxruntime-node';
import { halfToFloat } from '../../build/safetensors';
import { HastenError } from '../errors';

type KvType = 'float32' | 'float16';

function tensorType(s: ort.InferenceSession, name: string): string | undefined {
  const m = s.inputMetadata.find((x) => x.name === name);
  return m && m.isTensor ? m.type : undefined;
}

/** How to feed one standard graph and read its outputs. */
export class StandardIo {
  /** Element type of past_key_values.* (present.* follows it). */
  readonly kv: KvType;
  readonly positions: boolean;
  /** decoder_model_merged: false selects the branch that ignores the past (the first call). */
  readonly cacheBranch: boolean;

  constructor(file: string, s: ort.InferenceSession) {
    const t = tensorType(s, 'past_key_values.0.key') ?? 'float32';
    if (t !== 'float32' && t !== 'float16') {
      throw new HastenError('model-mismatch', `${file} takes ${t} K/V tensors; Hasten feeds float32 or float16.`,
        'Use another export of the model (onnx/model.onnx, model_q4.onnx, model_fp16.onnx ...), or build one from the checkpoint with npm run hasten -- build.');
    }
    this.kv = t;
    this.positions = s.inputNames.includes('position_ids');
    this.cacheBranch = s.inputNames.includes('use_cache_branch');
  }

  /** Inputs beyond ids, mask, positions and K/V; `pastLength` is the physical cache length fed. */
  extra(feeds: Record<string, ort.Tensor>, pastLength: number): void {
    if (this.cacheBranch) feeds.use_cache_branch = new ort.Tensor('bool', new Uint8Array([pastLength > 0 ? 1 : 0]), [1]);
  }
}

/** A graph output as float32 (fp16 exports may return float16 logits). */
export function asFloat32(t: ort.Tensor): ort.Tensor {
  if (t.type === 'float32') return t;
  if (t.type === 'float16') return new ort.Tensor('float32', halfToFloat(t.data as Uint16Array), t.dims);
  throw new HastenError('model-mismatch', `A graph output is ${t.type}; Hasten reads float32 or float16 logits and K/V.`, 'Use another export of the model (onnx/model.onnx, model_q4.onnx, model_fp16.onnx ...), or build one from the checkpoint with npm run hasten -- build.');
}
