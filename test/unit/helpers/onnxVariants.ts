// Rewrites the builder's standard graph into the other layouts onnx-community / Optimum folders ship,
// computing the same function: K/V and logits in float16 (Cast nodes at the edges, as a q4f16 export's
// I/O), no position_ids input (derived from the mask inside, as exports for models without positions),
// and the older decoder_model_merged with a use_cache_branch flag (whose wrong value here negates the
// logits, so a loader that feeds it wrongly decodes different tokens).
import fs from 'node:fs';
import path from 'node:path';
import protobuf from 'protobufjs';

// onnx.proto field numbers: what the builder writes (src/build/onnx.ts), read back and re-encoded.
const SCHEMA = {
  nested: { onnx: { nested: {
    StringStringEntryProto: { fields: { key: { type: 'string', id: 1 }, value: { type: 'string', id: 2 } } },
    TensorProto: { fields: {
      dims: { rule: 'repeated', type: 'int64', id: 1 }, dataType: { type: 'int32', id: 2 }, floatData: { rule: 'repeated', type: 'float', id: 4 },
      int32Data: { rule: 'repeated', type: 'int32', id: 5 }, int64Data: { rule: 'repeated', type: 'int64', id: 7 }, name: { type: 'string', id: 8 },
      rawData: { type: 'bytes', id: 9 }, externalData: { rule: 'repeated', type: 'StringStringEntryProto', id: 13 }, dataLocation: { type: 'int32', id: 14 },
    } },
    AttributeProto: { fields: {
      name: { type: 'string', id: 1 }, f: { type: 'float', id: 2 }, i: { type: 'int64', id: 3 }, s: { type: 'bytes', id: 4 }, t: { type: 'TensorProto', id: 5 },
      floats: { rule: 'repeated', type: 'float', id: 7 }, ints: { rule: 'repeated', type: 'int64', id: 8 }, type: { type: 'int32', id: 20 },
    } },
    NodeProto: { fields: {
      input: { rule: 'repeated', type: 'string', id: 1 }, output: { rule: 'repeated', type: 'string', id: 2 }, name: { type: 'string', id: 3 },
      opType: { type: 'string', id: 4 }, attribute: { rule: 'repeated', type: 'AttributeProto', id: 5 }, domain: { type: 'string', id: 7 },
    } },
    Dimension: { fields: { dimValue: { type: 'int64', id: 1 }, dimParam: { type: 'string', id: 2 } } },
    TensorShapeProto: { fields: { dim: { rule: 'repeated', type: 'Dimension', id: 1 } } },
    TypeTensor: { fields: { elemType: { type: 'int32', id: 1 }, shape: { type: 'TensorShapeProto', id: 2 } } },
    TypeProto: { fields: { tensorType: { type: 'TypeTensor', id: 1 } } },
    ValueInfoProto: { fields: { name: { type: 'string', id: 1 }, type: { type: 'TypeProto', id: 2 } } },
    GraphProto: { fields: {
      node: { rule: 'repeated', type: 'NodeProto', id: 1 }, name: { type: 'string', id: 2 }, initializer: { rule: 'repeated', type: 'TensorProto', id: 5 },
      input: { rule: 'repeated', type: 'ValueInfoProto', id: 11 }, output: { rule: 'repeated', type: 'ValueInfoProto', id: 12 },
    } },
    OperatorSetIdProto: { fields: { domain: { type: 'string', id: 1 }, version: { type: 'int64', id: 2 } } },
    ModelProto: { fields: {
      irVersion: { type: 'int64', id: 1 }, producerName: { type: 'string', id: 2 }, producerVersion: { type: 'string', id: 3 },
      graph: { type: 'GraphProto', id: 7 }, opsetImport: { rule: 'repeated', type: 'OperatorSetIdProto', id: 8 },
      metadataProps: { rule: 'repeated', type: 'StringStringEntryProto', id: 14 },
    } },
  } } },
};
const ModelProto = protobuf.Root.fromJSON(SCHEMA).lookupType('onnx.ModelProto');

const FLOAT = 1;
const INT64 = 7;
const BOOL = 9;
const FLOAT16 = 10;

interface Node { name: string; opType: string; input: string[]; output: string[]; attribute: Record<string, unknown>[] }
interface ValueInfo { name: string; type: { tensorType: { elemType: number; shape: unknown } } }
interface GraphMsg { node: Node[]; input: ValueInfo[]; output: ValueInfo[]; initializer: Record<string, unknown>[] }

export interface VariantOptions {
  /** past_key_values / present / logits as float16. */
  fp16?: boolean;
  /** Drop the position_ids input (positions = cumulative mask sum - 1, as Optimum derives them). */
  noPositions?: boolean;
  /** Add decoder_model_merged's use_cache_branch input. */
  cacheBranch?: boolean;
}

const node = (name: string, opType: string, input: string[], output: string[], attribute: Record<string, unknown>[] = []): Node => ({ name, opType, input, output, attribute });
const i64 = (name: string, values: number[], dims: number[] = [values.length]) => ({ name, dims, dataType: INT64, rawData: new Uint8Array(BigInt64Array.from(values.map(BigInt)).buffer) });
const f32 = (name: string, v: number) => ({ name, dims: [], dataType: FLOAT, rawData: new Uint8Array(Float32Array.of(v).buffer) });

function renameUses(g: GraphMsg, from: string, to: string): void {
  for (const n of g.node) n.input = n.input.map((x) => (x === from ? to : x));
}

/** Makes graph output `name` come out of a new last node `make(inner)`, its producer now writing `inner`. */
let wrapped = 0;
function wrapOutput(g: GraphMsg, name: string, make: (inner: string) => Node[]): void {
  const inner = `${name}__inner${wrapped++}`;
  for (const n of g.node) n.output = n.output.map((x) => (x === name ? inner : x));
  renameUses(g, name, inner);
  g.node.push(...make(inner));
}

/** Reads `src` (a builder standard graph), applies the options and writes `dst` beside a link to its weights. */
export function writeVariant(src: string, dst: string, o: VariantOptions): void {
  const model = ModelProto.decode(fs.readFileSync(src)) as unknown as { graph: GraphMsg };
  const g = model.graph;
  const front: Node[] = [];
  if (o.fp16) {
    for (const v of g.input.filter((x) => x.name.startsWith('past_key_values.'))) {
      v.type.tensorType.elemType = FLOAT16;
      renameUses(g, v.name, `${v.name}__f32`);
      front.push(node(`cast_${v.name}`, 'Cast', [v.name], [`${v.name}__f32`], [{ name: 'to', type: 2, i: FLOAT }]));
    }
    for (const v of g.output) {
      v.type.tensorType.elemType = FLOAT16;
      wrapOutput(g, v.name, (inner) => [node(`cast_${v.name}`, 'Cast', [inner], [v.name], [{ name: 'to', type: 2, i: FLOAT16 }])]);
    }
  }
  if (o.noPositions) {
    g.input = g.input.filter((x) => x.name !== 'position_ids');
    g.initializer.push(i64('var_axis1', [1], []), i64('var_one', [1]), i64('var_big', [1 << 30]), i64('var_1', [1]), i64('var_2', [2]));
    front.push(
      node('var_cumsum', 'CumSum', ['attention_mask', 'var_axis1'], ['var_cum']),
      node('var_sub', 'Sub', ['var_cum', 'var_one'], ['var_pos_all']),
      node('var_shape', 'Shape', ['input_ids'], ['var_ids_shape']),
      node('var_seq', 'Slice', ['var_ids_shape', 'var_1', 'var_2'], ['var_seq_len']),
      node('var_neg', 'Neg', ['var_seq_len'], ['var_from']),
      node('var_slice', 'Slice', ['var_pos_all', 'var_from', 'var_big', 'var_1'], ['position_ids']),
    );
  }
  if (o.cacheBranch) {
    g.input.push({ name: 'use_cache_branch', type: { tensorType: { elemType: BOOL, shape: { dim: [{ dimValue: 1 }] } } } });
    g.initializer.push(i64('ucb_0', [0]), i64('ucb_2', [2]), i64('ucb_3', [3]), f32('ucb_plus', 1), f32('ucb_minus', -1));
    wrapOutput(g, 'logits', (inner) => [
      node('ucb_shape', 'Shape', ['past_key_values.0.key'], ['ucb_past_shape']),
      node('ucb_past', 'Slice', ['ucb_past_shape', 'ucb_2', 'ucb_3'], ['ucb_past_len']),
      node('ucb_has', 'Greater', ['ucb_past_len', 'ucb_0'], ['ucb_has_past']),
      node('ucb_eq', 'Equal', ['use_cache_branch', 'ucb_has_past'], ['ucb_ok']),
      node('ucb_sign', 'Where', ['ucb_ok', 'ucb_plus', 'ucb_minus'], ['ucb_factor']),
      node('ucb_mul', 'Mul', [inner, o.fp16 ? 'ucb_factor_h' : 'ucb_factor'], ['logits']),
      ...(o.fp16 ? [node('ucb_cast', 'Cast', ['ucb_factor'], ['ucb_factor_h'], [{ name: 'to', type: 2, i: FLOAT16 }])] : []),
    ]);
    // Keep topological order: the cast of the factor must precede the Mul.
    if (o.fp16) {
      const i = g.node.findIndex((n) => n.name === 'ucb_cast');
      const [c] = g.node.splice(i, 1);
      g.node.splice(g.node.findIndex((n) => n.name === 'ucb_mul'), 0, c!);
    }
  }
  g.node.unshift(...front);
  fs.mkdirSync(path.dirname(dst), { recursive: true });
  fs.writeFileSync(dst, ModelProto.encode(model as unknown as protobuf.Message).finish());
}
