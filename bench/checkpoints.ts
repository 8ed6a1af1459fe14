// Random-weight Hugging Face checkpoints of a given shape, deterministic from a seed: the builder's
// test fixtures (tiny llama / qwen2 with every option) and the real-size stand-in of the benchmark
// (Qwen2.5-Coder-0.5B's exact shape). Step cost does not depend on weight values; acceptance does,
// so nothing about acceptance is ever reported from these.
import fs from 'node:fs';
import path from 'node:path';
import { writeSafetensors } from '../src/build/safetensors';
import { seededRandom } from '../src/engine/sampling';

export interface CheckpointShape {
  family: 'llama' | 'qwen2' | 'mistral';
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  intermediate: number;
  vocab: number;
  tied: boolean;
  /** llama: attention_bias (q/k/v/o biases); qwen2 always has q/k/v biases. */
  attentionBias?: boolean;
  ropeTheta?: number;
  ropeScaling?: Record<string, unknown> | null;
  maxPositions?: number;
  rmsEps?: number;
}

/** Qwen2.5-Coder-0.5B: 24 layers, hidden 896, 14 / 2 heads of 64, intermediate 4864, vocab 151936, tied, q/k/v biases. */
export const QWEN25_05B: CheckpointShape = {
  family: 'qwen2', hidden: 896, layers: 24, heads: 14, kvHeads: 2, headDim: 64, intermediate: 4864, vocab: 151936,
  tied: true, ropeTheta: 1e6, maxPositions: 32768, rmsEps: 1e-6,
};

/** The tensors of a checkpoint of this shape, in HF names and layouts ([out, in] for linears). */
export function randomTensors(s: CheckpointShape, seed: number): { name: string; shape: number[]; data: Float32Array }[] {
  const rand = seededRandom(seed);
  const normal = (n: number, std: number) => {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i += 2) {
      const u = Math.max(rand(), 1e-12);
      const v = rand();
      const r = Math.sqrt(-2 * Math.log(u)) * std;
      out[i] = r * Math.cos(2 * Math.PI * v);
      if (i + 1 < n) out[i + 1] = r * Math.sin(2 * Math.PI * v);
    }
    return out;
  };
  const q = s.heads * s.headDim;
  const kv = s.kvHeads * s.headDim;
  const t: { name: string; shape: number[]; data: Float32Array }[] = [];
  const add = (name: string, shape: number[], std: number, mean = 0) => {
    const data = normal(shape.reduce((a, b) => a * b, 1), std);
    if (mean) for (let i = 0; i < data.length; i++) data[i]! += mean;
    t.push({ name, shape, data });
  };
  const lin = (fanIn: number) => 1 / Math.sqrt(fanIn);
  add('model.embed_tokens.weight', [s.vocab, s.hidden], 0.5);
  const biases = s.family === 'qwen2' || s.attentionBias === true;
  for (let l = 0; l < s.layers; l++) {
    const p = `model.layers.${l}`;
    add(`${p}.input_layernorm.weight`, [s.hidden], 0.1, 1);
    add(`${p}.post_attention_layernorm.weight`, [s.hidden], 0.1, 1);
    add(`${p}.self_attn.q_proj.weight`, [q, s.hidden], lin(s.hidden));
    add(`${p}.self_attn.k_proj.weight`, [kv, s.hidden], lin(s.hidden));
    add(`${p}.self_attn.v_proj.weight`, [kv, s.hidden], lin(s.hidden));
    add(`${p}.self_attn.o_proj.weight`, [s.hidden, q], lin(q));
    if (biases) {
      add(`${p}.self_attn.q_proj.bias`, [q], 0.5);
      add(`${p}.self_attn.k_proj.bias`, [kv], 0.5);
      add(`${p}.self_attn.v_proj.bias`, [kv], 0.5);
      if (s.family !== 'qwen2') add(`${p}.self_attn.o_proj.bias`, [s.hidden], 0.5);
    }
    add(`${p}.mlp.gate_proj.weight`, [s.intermediate, s.hidden], lin(s.hidden));
    add(`${p}.mlp.up_proj.weight`, [s.intermediate, s.hidden], lin(s.hidden));
    add(`${p}.mlp.down_proj.weight`, [s.hidden, s.intermediate], lin(s.intermediate));
  }
  add('model.norm.weight', [s.hidden], 0.1, 1);
  if (!s.tied) add('lm_head.weight', [s.vocab, s.hidden], lin(s.hidden));
  return t;
}

/** config.json of a checkpoint of this shape. */
export function configOf(s: CheckpointShape): Record<string, unknown> {
  return {
    architectures: [s.family === 'qwen2' ? 'Qwen2ForCausalLM' : s.family === 'mistral' ? 'MistralForCausalLM' : 'LlamaForCausalLM'],
    model_type: s.family, hidden_size: s.hidden, num_hidden_layers: s.layers, num_attention_heads: s.heads, num_key_value_heads: s.kvHeads,
    head_dim: s.headDim, intermediate_size: s.intermediate, vocab_size: s.vocab, tie_word_embeddings: s.tied, hidden_act: 'silu',
    rms_norm_eps: s.rmsEps ?? 1e-5, rope_theta: s.ropeTheta ?? 10000, rope_scaling: s.ropeScaling ?? null,
    max_position_embeddings: s.maxPositions ?? 512, ...(s.attentionBias ? { attention_bias: true } : {}),
    eos_token_id: 0, torch_dtype: 'float32',
  };
}

/**
 * Writes a random checkpoint folder: config.json, model.safetensors (or `shards` shards with an
 * index), and the given tokenizer files. Returns the folder.
 */
export function writeRandomCheckpoint(dir: string, s: CheckpointShape, o: { seed: number; tokenizerDir: string; dtype?: 'F32' | 'F16' | 'BF16'; shards?: number }): string {
  fs.mkdirSync(dir, { recursive: true });
  const tensors = randomTensors(s, o.seed);
  fs.writeFileSync(path.join(dir, 'config.json'), `${JSON.stringify(configOf(s), null, 2)}\n`);
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) {
    if (fs.existsSync(path.join(o.tokenizerDir, f))) fs.copyFileSync(path.join(o.tokenizerDir, f), path.join(dir, f));
  }
  const shards = o.shards ?? 1;
  if (shards === 1) {
    writeSafetensors(path.join(dir, 'model.safetensors'), tensors, o.dtype ?? 'F32');
    return dir;
  }
  const weightMap: Record<string, string> = {};
  const per = Math.ceil(tensors.length / shards);
  for (let i = 0; i < shards; i++) {
    const file = `model-${String(i + 1).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.safetensors`;
    const part = tensors.slice(i * per, (i + 1) * per);
    part.forEach((t) => { weightMap[t.name] = file; });
    writeSafetensors(path.join(dir, file), part, o.dtype ?? 'F32');
  }
  fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }, null, 2));
  return dir;
}
