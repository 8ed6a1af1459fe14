// Writes models/manifest.json (every model folder, its variants, its files with sha256, its exit
// layers, its special tokens, and which drafts fit which target) and regenerates the evaluation
// section of models/README.md from models/eval.json.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const models = path.resolve(here, '..');
const FOLDERS = ['hasten-target', 'hasten-draft-s', 'hasten-draft-m', 'hasten-cmlm'];
const SPECIAL = ['<|endoftext|>', '<|fim_prefix|>', '<|fim_middle|>', '<|fim_suffix|>', '<|fim_pad|>', '<|mask|>'];

const sha256 = (file) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

function listFiles(dir, base = dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? listFiles(p, base) : [path.relative(base, p).split(path.sep).join('/')];
  }).sort();
}

function entry(folder) {
  const dir = path.join(models, folder);
  if (!fs.existsSync(path.join(dir, 'config.json'))) throw new Error(`manifest: ${dir}/config.json is missing; run the export stage`);
  const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  // reference.json is test data (torch's outputs) and model.safetensors the builder's input: neither is a runtime file.
  // exit_classifier.safetensors (CALM's learned exit classifier, read at run time) is one.
  const files = Object.fromEntries(listFiles(dir).filter((f) => f !== 'reference.json' && !/^model(-\d+-of-\d+)?\.safetensors$/.test(f)).map((f) => [f, sha256(path.join(dir, f))]));
  const vocab = JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer.json'), 'utf8')).model.vocab;
  const specialTokens = Object.fromEntries(SPECIAL.map((t) => [t, vocab[t]]));
  const kind = cfg.model_type === 'hasten-cmlm' ? 'cmlm' : 'causal';
  const e = { path: folder, kind, params: cfg.hasten.params, layers: cfg.num_hidden_layers, contextLength: cfg.max_position_embeddings, specialTokens };
  // Causal models are built by Hasten's graph builder: an Optimum-style standard graph and the fast graph (in-place KV).
  if (kind === 'causal') e.variants = { standard: 'onnx/model.onnx', fast: 'onnx/model_fast.onnx' };
  if (kind === 'causal') e.build = cfg.hasten.build;
  // The CPU graph (K/V rows out, the engine's buffers read in place), in builds that have it.
  if (kind === 'causal' && fs.existsSync(path.join(dir, 'onnx', 'model_fast_cpu.onnx'))) e.variants.fastCpu = 'onnx/model_fast_cpu.onnx';
  // The GPU's fp16 graphs (fp16 K/V), in builds that have them.
  if (kind === 'causal' && fs.existsSync(path.join(dir, 'onnx', 'model_fast_fp16.onnx'))) e.variants.fastGpu = 'onnx/model_fast_fp16.onnx';
  if (kind === 'causal' && fs.existsSync(path.join(dir, 'onnx', 'model_fast_tree_fp16.onnx'))) e.variants.fastGpuTree = 'onnx/model_fast_tree_fp16.onnx';
  if (folder === 'hasten-target') {
    const L = cfg.num_hidden_layers;
    e.role = 'target';
    e.exitLayers = Array.from({ length: L }, (_, i) => i + 1);
    e.variants.fastTree = 'onnx/model_fast_tree.onnx';
    e.variants.layered = {
      embed: 'onnx/layered_embed.onnx',
      blocks: Array.from({ length: L }, (_, i) => `onnx/layered_block_${i}.onnx`),
      head: 'onnx/layered_head.onnx',
      kvPropagate: 'onnx/layered_kv_propagate.onnx',
      cpuBlocks: Array.from({ length: L }, (_, i) => `onnx/layered_block_cpu_${i}.onnx`),
    };
    e.drafts = ['hasten-draft-s', 'hasten-draft-m'];
  } else if (kind === 'causal') {
    e.role = 'draft';
    e.draftFor = ['hasten-target'];
  } else {
    e.role = 'cmlm';
    e.maxSpan = cfg.max_span;
    e.variants = { cmlm: 'onnx/model.onnx' };
  }
  e.files = files;
  return e;
}

function pct(x) { return `${(100 * x).toFixed(1)}%`; }

function evalMarkdown(ev) {
  const rows = [['model', 'params', 'training tokens', 'training min', 'held-out loss', 'bits/byte', 'next-line exact', 'draft acceptance (k=4)', 'tokens per target step']];
  for (const name of ['target', 'draft-s', 'draft-m']) {
    const m = ev[name];
    rows.push([`hasten-${name}`, `${(m.params / 1e6).toFixed(2)}M`, `${(m.training_tokens / 1e6).toFixed(2)}M`, m.training_minutes, m.loss, m.bits_per_byte,
      pct(m.next_line_exact_match), m.acceptance_k4 === undefined ? '—' : pct(m.acceptance_k4), m.tokens_per_target_step_k4 ?? '—']);
  }
  const table = (r) => [r[0], r[0].map(() => '---'), ...r.slice(1)].map((x) => `| ${x.join(' | ')} |`).join('\n');
  const exits = [['exit layer', 'loss', 'bits/byte', 'agrees with final layer'],
    ...ev.target.exit_layers.map((e) => [e.layer, e.loss, e.bits_per_byte, pct(e.agreement_with_final)])];
  return [
    `Measured on ${ev.eval_tokens.toLocaleString('en')} held-out tokens (windows of ${ev.window}) and ${ev.line_start_prompts} line-start prompts; ${ev.seconds} s.`,
    '', table(rows), '',
    `Trigram baseline (interpolated, trained on the same training split): ${ev.trigram_baseline.bits_per_byte} bits/byte.`,
    `fp16 weight storage: target ${ev.target.fp32_bits_per_byte} bits/byte with fp32 weights, ${ev.target.bits_per_byte} with the shipped fp16 weights.`,
    '', 'Target, every exit layer (LayerSkip-style early-exit loss during training):', '', table(exits), '',
    `CMLM (${(ev.cmlm.params / 1e6).toFixed(2)}M params, ${(ev.cmlm.training_tokens / 1e6).toFixed(2)}M tokens, ${ev.cmlm.training_minutes} min): ` +
      `masked-token accuracy ${pct(ev.cmlm.masked_token_accuracy)} (one pass, random masking${ev.cmlm.masked_tokens ? `; ${ev.cmlm.masked_tokens.toLocaleString('en')} masked tokens in ${ev.cmlm.spans.toLocaleString('en')} held-out spans` : ''}), span-length accuracy ${pct(ev.cmlm.length_accuracy)}.`,
  ].join('\n');
}

function main() {
  const manifest = {
    version: 1,
    defaults: { target: 'hasten-target', draft: 'hasten-draft-m', cmlm: 'hasten-cmlm' },
    models: Object.fromEntries(FOLDERS.map((f) => [f, entry(f)])),
  };
  fs.writeFileSync(path.join(models, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  const evalFile = path.join(models, 'eval.json');
  const readme = path.join(models, 'README.md');
  if (fs.existsSync(evalFile) && fs.existsSync(readme)) {
    const text = fs.readFileSync(readme, 'utf8');
    const block = `<!-- eval:start (generated by models/toolchain/manifest.mjs from eval.json) -->\n${evalMarkdown(JSON.parse(fs.readFileSync(evalFile, 'utf8')))}\n<!-- eval:end -->`;
    fs.writeFileSync(readme, text.replace(/<!-- eval:start[\s\S]*?<!-- eval:end -->/, block));
  }
  const total = FOLDERS.reduce((s, f) => s + Object.keys(manifest.models[f].files).reduce((t, x) => t + fs.statSync(path.join(models, f, x)).size, 0), 0);
  console.log(`manifest: ${FOLDERS.length} models, ${(total / 1e6).toFixed(1)} MB`);
}

main();
