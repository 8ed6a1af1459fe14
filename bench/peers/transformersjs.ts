// transformers.js as a peer: plain greedy generate() on the exact prompt ids our engine builds, on
// the same ONNX file and the same onnxruntime-node, so the report compares decoding loops rather
// than models. transformers.js has no speculative decoding, so this is its one system.
import path from 'node:path';
import type { PeerOpenResult, PeerRun, PeerSystem } from './types';

type TransformersJs = typeof import('@huggingface/transformers');
type CausalLM = Awaited<ReturnType<TransformersJs['AutoModelForCausalLM']['from_pretrained']>>;

export const TRANSFORMERS_JS_INSTALL = 'ONNXRUNTIME_NODE_INSTALL=skip npm i -D -E @huggingface/transformers@4.3.1';

export interface TransformersJsOptions {
  /** A model folder in Hugging Face layout with `onnx/model.onnx` (fp32), e.g. models/hasten-target. */
  modelDir: string;
  /** ONNX Runtime intra-op and inter-op threads; 0 leaves both to ONNX Runtime. */
  threads: number;
  /**
   * Intra-op spinning; undefined keeps ONNX Runtime's default (on). Our engine turns it off when it
   * holds more than one session, and spinning threads slow a busy 2-core machine down a lot.
   */
  allowSpinning?: boolean;
}

/** Loads transformers.js and the model fully offline; says how to install it when it is missing. */
export async function openTransformersJs(o: TransformersJsOptions): Promise<PeerOpenResult> {
  let tjs: TransformersJs;
  try {
    tjs = await import('@huggingface/transformers');
  } catch (err) {
    return { ok: false, message: `transformers.js could not be loaded (${firstLine(err)}). Install it with: ${TRANSFORMERS_JS_INSTALL}` };
  }
  const dir = path.resolve(o.modelDir);
  // The folder is addressed as a model id under localModelPath; remote models and the fs cache stay
  // off, so nothing is fetched or written.
  tjs.env.allowRemoteModels = false;
  tjs.env.useFSCache = false;
  tjs.env.localModelPath = path.dirname(dir) + path.sep;
  const threads = o.threads > 0 ? { intraOpNumThreads: o.threads, interOpNumThreads: o.threads } : {};
  const spinning = o.allowSpinning === undefined ? {} : { extra: { session: { intra_op: { allow_spinning: o.allowSpinning ? '1' : '0' } } } };
  let model: CausalLM;
  try {
    // session_options reach onnxruntime's InferenceSession.create unchanged (transformers.js
    // only adds its executionProviders and log level when they are not given).
    model = await tjs.AutoModelForCausalLM.from_pretrained(path.basename(dir), {
      dtype: 'fp32', device: 'cpu', local_files_only: true, session_options: { ...threads, ...spinning },
    });
  } catch (err) {
    return { ok: false, message: `transformers.js could not load ${dir} (${firstLine(err)}). It needs config.json (model_type, eos_token_id), tokenizer.json, tokenizer_config.json and onnx/model.onnx.` };
  }
  const settings = {
    version: tjs.env.version,
    dtype: 'fp32',
    device: 'cpu',
    intraOpNumThreads: o.threads > 0 ? o.threads : 'ort default',
    interOpNumThreads: o.threads > 0 ? o.threads : 'ort default',
    allowSpinning: o.allowSpinning ?? 'ort default',
    decoding: 'greedy generate(), batch 1, KV cache',
  } as const;
  return { ok: true, systems: [new TransformersJsGreedy(tjs, model, path.basename(dir), settings)] };
}

/** Notes when the first and the last generated token are known; generate() calls put() once per step. */
function timingStreamer(tjs: TransformersJs) {
  return new (class extends tjs.BaseStreamer {
    puts = 0;
    first = 0;
    last = 0;
    override put(): void {
      const now = performance.now();
      // The first put() carries the prompt, the second the first generated token.
      if (++this.puts === 2) this.first = now;
      this.last = now;
    }
    override end(): void {}
  })();
}

class TransformersJsGreedy implements PeerSystem {
  readonly id = 'transformers.js/greedy';
  readonly description: string;

  constructor(private readonly tjs: TransformersJs, private readonly model: CausalLM, modelName: string, readonly settings: Readonly<Record<string, string | number | boolean>>) {
    this.description = `transformers.js ${settings.version}, ${modelName} fp32 ONNX on CPU, intra-op ${settings.intraOpNumThreads} / inter-op ${settings.interOpNumThreads} threads, greedy generate()`;
  }

  /** Greedy continuation of `prompt`; the stop id that ends it is generated (and timed) but not returned. */
  async generate(prompt: readonly number[], maxNewTokens: number, stopIds: readonly number[]): Promise<PeerRun> {
    const input = new this.tjs.Tensor('int64', BigInt64Array.from(prompt, BigInt), [1, prompt.length]);
    const streamer = timingStreamer(this.tjs);
    try {
      const t0 = performance.now();
      const out = (await this.model.generate({
        // An empty list stops at nothing; leaving it out would stop at config.json's eos_token_id.
        input_ids: input, max_new_tokens: maxNewTokens, do_sample: false, num_beams: 1, eos_token_id: [...stopIds],
        // generate() only calls put() and end(); its typings merge in GenerationConfig's TextStreamer.
        streamer: streamer as unknown as InstanceType<TransformersJs['TextStreamer']>,
      })) as InstanceType<TransformersJs['Tensor']>;
      const generated = Array.from(out.data as BigInt64Array, Number).slice(prompt.length);
      const stop = generated.findIndex((id) => stopIds.includes(id));
      const output = stop < 0 ? generated : generated.slice(0, stop);
      if (streamer.puts < 2) return { output, tokens: output.length, prefillMs: 0, decodeMs: 0 };
      return { output, tokens: output.length, prefillMs: streamer.first - t0, decodeMs: streamer.last - streamer.first };
    } catch (err) {
      return { output: [], tokens: 0, prefillMs: 0, decodeMs: 0, error: firstLine(err) };
    }
  }

  async dispose(): Promise<void> {
    await this.model.dispose();
  }
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0]!.slice(0, 300);
}
