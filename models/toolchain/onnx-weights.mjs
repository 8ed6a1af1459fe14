// Reads the weights of an exported Hasten/Llama decoder straight from its ONNX file: a minimal
// protobuf reader (varints and length-delimited fields are all ONNX needs), the graph's
// initializers with their external data, and a map from each weight to the HF parameter it came
// from, found through the node that consumes it (torch names MatMul weights `onnx::MatMul_N`).
import fs from 'node:fs';
import path from 'node:path';

const ONNX_FLOAT = 1;
const ONNX_FLOAT16 = 10;

/** Yields the fields of one protobuf message in buf[start, end): {field, wire, value} or {field, wire, start, end}. */
function* fields(buf, start = 0, end = buf.length) {
  let p = start;
  const varint = () => {
    let r = 0n;
    for (let shift = 0n; ; shift += 7n) {
      const b = buf[p++];
      r |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return r;
    }
  };
  while (p < end) {
    const key = Number(varint());
    const field = key >> 3, wire = key & 7;
    if (wire === 0) yield { field, wire, value: varint() };
    else if (wire === 2) { const n = Number(varint()); yield { field, wire, start: p, end: p + n }; p += n; }
    else if (wire === 5) { yield { field, wire, start: p, end: p + 4 }; p += 4; }
    else if (wire === 1) { yield { field, wire, start: p, end: p + 8 }; p += 8; }
    else throw new Error(`onnx: unsupported protobuf wire type ${wire} at byte ${p}`);
  }
}

function decodeDims(buf, f) {
  if (f.wire === 0) return [Number(f.value)];
  // Packed int64: re-read the bytes as consecutive varints.
  const dims = [];
  let p = f.start;
  while (p < f.end) {
    let r = 0, mul = 1;
    for (;;) { const b = buf[p++]; r += (b & 0x7f) * mul; mul *= 128; if (!(b & 0x80)) break; }
    dims.push(r);
  }
  return dims;
}
function readTensor(buf, msg) {
  const t = { name: '', dims: [], dataType: 0, raw: null, external: {} };
  const text = (f) => buf.toString('utf8', f.start, f.end);
  for (const f of fields(buf, msg.start, msg.end)) {
    if (f.field === 1) t.dims.push(...decodeDims(buf, f));
    else if (f.field === 2) t.dataType = Number(f.value);
    else if (f.field === 8) t.name = text(f);
    else if (f.field === 9) t.raw = buf.subarray(f.start, f.end);
    else if (f.field === 13) {
      let k = '', v = '';
      for (const e of fields(buf, f.start, f.end)) { if (e.field === 1) k = text(e); else if (e.field === 2) v = text(e); }
      t.external[k] = v;
    }
  }
  return t;
}

/** A node's inputs, outputs, op and the attributes this reader needs (ints and tensors). */
function readNode(buf, msg) {
  const n = { inputs: [], outputs: [], op: '', attrs: {} };
  for (const f of fields(buf, msg.start, msg.end)) {
    const s = () => buf.toString('utf8', f.start, f.end);
    if (f.field === 1) n.inputs.push(s());
    else if (f.field === 2) n.outputs.push(s());
    else if (f.field === 4) n.op = s();
    else if (f.field === 5) {
      const a = {};
      for (const e of fields(buf, f.start, f.end)) {
        if (e.field === 1) a.name = buf.toString('utf8', e.start, e.end);
        else if (e.field === 3) a.i = Number(BigInt.asIntN(64, e.value));
        else if (e.field === 5) a.t = readTensor(buf, e);
      }
      n.attrs[a.name] = a;
    }
  }
  return n;
}

/** The graph's initializers (with external data resolved) and nodes. */
export function readOnnxGraph(onnxPath) {
  const buf = fs.readFileSync(onnxPath);
  const initializers = [], nodes = [];
  for (const top of fields(buf)) {
    if (top.field !== 7 || top.wire !== 2) continue; // ModelProto.graph
    for (const g of fields(buf, top.start, top.end)) {
      if (g.field === 5) initializers.push(readTensor(buf, g));
      else if (g.field === 1) nodes.push(readNode(buf, g));
    }
  }
  const files = new Map();
  for (const t of initializers) {
    if (t.raw !== null || !t.external.location) continue;
    const file = path.join(path.dirname(onnxPath), t.external.location);
    if (!files.has(file)) files.set(file, fs.readFileSync(file));
    const offset = Number(t.external.offset ?? 0), length = Number(t.external.length);
    t.raw = files.get(file).subarray(offset, offset + length);
  }
  return { initializers, nodes };
}

const HALF_TO_FLOAT = (() => {
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1, exp = (h >> 10) & 0x1f, frac = h & 0x3ff;
    if (exp === 0) table[h] = sign * frac * 2 ** -24;
    else if (exp === 31) table[h] = frac ? NaN : sign * Infinity;
    else table[h] = sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  return table;
})();

/** Exact upcast of an fp16 or fp32 initializer to a fresh Float32Array. */
export function tensorToFloat32(t) {
  const n = t.dims.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  if (t.dataType === ONNX_FLOAT16) {
    for (let i = 0; i < n; i++) out[i] = HALF_TO_FLOAT[t.raw.readUInt16LE(2 * i)];
  } else if (t.dataType === ONNX_FLOAT) {
    for (let i = 0; i < n; i++) out[i] = t.raw.readFloatLE(4 * i);
  } else {
    throw new Error(`onnx: initializer ${t.name} has data type ${t.dataType}; only float16 and float32 weights are supported`);
  }
  if (out.length * (t.dataType === ONNX_FLOAT16 ? 2 : 4) !== t.raw.length) throw new Error(`onnx: initializer ${t.name}: ${t.raw.length} bytes for dims ${t.dims}`);
  return out;
}

const PROJ = /^\/layers\.(\d+)\/(self_attn|mlp)\/(q|k|v|o|gate|up|down)_proj\/MatMul_output_0$/;
const NORM = /^m\.layers\.(\d+)\.(input_layernorm|post_attention_layernorm)\.weight$/;

/**
 * The decoder's weights by HF parameter name, e.g. `model.layers.0.self_attn.q_proj.weight`, each
 * `{ data: Float32Array, shape }` in ONNX layout. Projection weights are MatMul right-hand sides,
 * i.e. [in, out] (the transpose of nn.Linear); `lm_head` is the Gemm's B with transB=1 (the tied
 * embedding, [vocab, hidden]).
 */
export function readDecoderWeights(onnxPath) {
  const { initializers, nodes } = readOnnxGraph(onnxPath);
  const byName = new Map(initializers.map((t) => [t.name, t]));
  // Weights stored as fp16 reach their consumers through a Cast to float: follow it back.
  const castSource = new Map(nodes.filter((n) => n.op === 'Cast' && byName.has(n.inputs[0])).map((n) => [n.outputs[0], n.inputs[0]]));
  const constants = new Map(nodes.filter((n) => n.op === 'Constant' && n.attrs.value?.t).map((n) => [n.outputs[0], n.attrs.value.t]));
  const source = (name) => byName.get(castSource.get(name) ?? name) ?? constants.get(name);
  const weights = new Map();
  const put = (hfName, t) => {
    if (!t) throw new Error(`onnx: ${onnxPath}: no initializer feeds ${hfName}`);
    weights.set(hfName, { data: tensorToFloat32(t), shape: t.dims, onnxName: t.name, dataType: t.dataType });
  };
  for (const n of nodes) {
    const m = PROJ.exec(n.outputs[0] ?? '');
    if (n.op === 'MatMul' && m) put(`model.layers.${m[1]}.${m[2]}.${m[3]}_proj.weight`, source(n.inputs[1]));
    else if (n.op === 'Gather' && source(n.inputs[0]) && n.outputs[0] === '/embed_tokens/Gather_output_0') put('model.embed_tokens.weight', source(n.inputs[0]));
    else if (n.op === 'Gemm' && source(n.inputs[1])) {
      if (n.attrs.transB?.i !== 1 || n.attrs.transA?.i) throw new Error(`onnx: ${onnxPath}: expected the LM head as Gemm(x, W, transB=1)`);
      put('lm_head.weight', source(n.inputs[1]));
      const bias = n.inputs[2] && source(n.inputs[2]);
      if (bias && tensorToFloat32(bias).some((x) => x !== 0)) throw new Error(`onnx: ${onnxPath}: the LM head has a non-zero bias, which a llama GGUF cannot hold`);
    }
  }
  for (const t of initializers) {
    const m = NORM.exec(t.name);
    if (m) put(`model.layers.${m[1]}.${m[2]}.weight`, t);
    else if (t.name === 'm.norm.weight') put('model.norm.weight', t);
  }
  return weights;
}
