// What every decoder shares: the request, prefill with prefix reuse, and the output stream with
// its stop rules (end-of-text tokens, a token budget, a caller's text predicate).
import { CausalModel } from '../model/causal';
import { SamplingOptions } from '../sampling';
import { StreamDecoder, TextTokenizer } from '../tokenizer';
import { CompletionTrace, StepTrace } from '../trace';

export interface DecodeRequest {
  prompt: readonly number[];
  maxNewTokens: number;
  sampling: SamplingOptions;
  signal?: AbortSignal;
  /** Ends decoding when it returns true for the text so far (the caller's multi-line policy). */
  stopText?: (text: string) => boolean;
}

/** One increment of output. */
export interface DecodeChunk {
  /** Token ids added by this step. */
  ids: number[];
  /** Text that became final with them. */
  delta: string;
  /** The step record, for steps of the decode loop (absent for the first token after prefill). */
  step?: StepTrace;
  /** `ids` and `delta` replace everything streamed before (Mask-Predict revises its whole span each pass). */
  revise?: boolean;
}

export type StopReason = CompletionTrace['stopReason'];

/** Applies the stop rules to tokens as they are produced and streams their text. */
export class Output {
  readonly ids: number[] = [];
  reason: StopReason | null = null;
  private readonly decoder: StreamDecoder;
  private text = '';

  constructor(private readonly tokenizer: TextTokenizer, private readonly req: DecodeRequest) {
    this.decoder = new StreamDecoder(tokenizer);
  }

  get done(): boolean {
    return this.reason !== null;
  }

  /** Takes a step's tokens; returns the ones that count (cut at a stop) and the new text. */
  push(ids: readonly number[]): { ids: number[]; delta: string } {
    const taken: number[] = [];
    for (const id of ids) {
      if (this.done) break;
      if (this.tokenizer.stopIds.has(id)) {
        this.reason = 'eos';
        break;
      }
      taken.push(id);
      this.ids.push(id);
      if (this.ids.length >= this.req.maxNewTokens) this.reason = 'length';
    }
    const delta = taken.length ? this.decoder.push(taken) : '';
    this.text += delta;
    if (!this.done && this.req.stopText?.(this.text)) this.reason = 'stop';
    return { ids: taken, delta };
  }

  /** Room left in the model's context after `model.length` tokens plus the pending one. */
  static room(model: Pick<CausalModel, 'contextLength' | 'length'>): number {
    return model.contextLength - model.length - 1;
  }
}

/**
 * Runs the prompt through the model, reusing the KV of the longest common prefix with what the
 * cache already holds. Returns the logits row after the last prompt token and the reused count.
 */
export async function prefill(model: CausalModel, prompt: readonly number[], signal?: AbortSignal): Promise<{ row: Float32Array; reused: number; ms: number }> {
  const t0 = performance.now();
  const reused = model.retain(prompt.slice(0, -1));
  const feed = prompt.slice(reused);
  const logits = await model.forward(feed, null, signal);
  model.commit(feed.map((_, i) => i));
  return { row: logits.row(feed.length - 1).slice(), reused, ms: performance.now() - t0 };
}

export function newTrace(strategy: string, model: { folder: { name: string } }, drafter: string, promptTokens: number): CompletionTrace {
  return {
    id: 0, strategy, model: model.folder.name, drafter, promptTokens, reusedTokens: 0, tokens: 0, output: [],
    prefillMs: 0, decodeMs: 0, steps: [], stopReason: 'length',
  };
}
