// Writing ONNX models from TypeScript: the subset of onnx.proto a decoder needs, encoded with
// protobufjs (the protobuf library onnxruntime-web itself uses), and a small graph builder whose
// initializers live in one external-data file shared by every graph of a model folder.
import protobuf from 'protobufjs';

/** ONNX TensorProto.DataType values. */
export const DT = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6, INT64: 7, BOOL: 9, FLOAT16: 10, BFLOAT16: 16 } as const;
export type DataType = (typeof DT)[keyof typeof DT];

// Field numbers from onnx/onnx.proto (IR version 10). Only what the builder writes is declared.
const SCHEMA = {
  nested: {
    onnx: {
      nested: {
        StringStringEntryProto: { fields: { key: { type: 'string', id: 1 }, value: { type: 'string', id: 2 } } },
        TensorProto: {
          fields: {
            dims: { rule: 'repeated', type: 'int64', id: 1 },
            dataType: { type: 'int32', id: 2 },
            floatData: { rule: 'repeated', type: 'float', id: 4 },
            int32Data: { rule: 'repeated', type: 'int32', id: 5 },
            int64Data: { rule: 'repeated', type: 'int64', id: 7 },
            name: { type: 'string', id: 8 },
            rawData: { type: 'bytes', id: 9 },
            externalData: { rule: 'repeated', type: 'StringStringEntryProto', id: 13 },
            dataLocation: { type: 'int32', id: 14 },
          },
        },
        AttributeProto: {
          fields: {
            name: { type: 'string', id: 1 },
            f: { type: 'float', id: 2 },
            i: { type: 'int64', id: 3 },
            s: { type: 'bytes', id: 4 },
            t: { type: 'TensorProto', id: 5 },
            g: { type: 'GraphProto', id: 6 },
            floats: { rule: 'repeated', type: 'float', id: 7 },
            ints: { rule: 'repeated', type: 'int64', id: 8 },
            type: { type: 'int32', id: 20 },
          },
        },
        NodeProto: {
          fields: {
            input: { rule: 'repeated', type: 'string', id: 1 },
            output: { rule: 'repeated', type: 'string', id: 2 },
            name: { type: 'string', id: 3 },
            opType: { type: 'string', id: 4 },
            attribute: { rule: 'repeated', type: 'AttributeProto', id: 5 },
            domain: { type: 'string', id: 7 },
          },
        },
        Dimension: { fields: { dimValue: { type: 'int64', id: 1 }, dimParam: { type: 'string', id: 2 } } },
        TensorShapeProto: { fields: { dim: { rule: 'repeated', type: 'Dimension', id: 1 } } },
        TypeTensor: { fields: { elemType: { type: 'int32', id: 1 }, shape: { type: 'TensorShapeProto', id: 2 } } },
        TypeProto: { fields: { tensorType: { type: 'TypeTensor', id: 1 } } },
        ValueInfoProto: { fields: { name: { type: 'string', id: 1 }, type: { type: 'TypeProto', id: 2 } } },
        GraphProto: {
          fields: {
            node: { rule: 'repeated', type: 'NodeProto', id: 1 },
            name: { type: 'string', id: 2 },
            initializer: { rule: 'repeated', type: 'TensorProto', id: 5 },
            input: { rule: 'repeated', type: 'ValueInfoProto', id: 11 },
            output: { rule: 'repeated', type: 'ValueInfoProto', id: 12 },
          },
        },
        OperatorSetIdProto: { fields: { domain: { type: 'string', id: 1 }, version: { type: 'int64', id: 2 } } },
        ModelProto: {
          fields: {
            irVersion: { type: 'int64', id: 1 },
            producerName: { type: 'string', id: 2 },
            producerVersion: { type: 'string', id: 3 },
            graph: { type: 'GraphProto', id: 7 },
            opsetImport: { rule: 'repeated', type: 'OperatorSetIdProto', id: 8 },
            metadataProps: { rule: 'repeated', type: 'StringStringEntryProto', id: 14 },
          },
        },
      },
    },
  },
};

const root = protobuf.Root.fromJSON(SCHEMA);
const ModelProto = root.lookupType('onnx.ModelProto');

// AttributeProto.AttributeType
const AT = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7 } as const;

/** A branch of a control-flow node (If): nodes only; it reads its parent's values and initializers by name. */
export interface Subgraph {
  graph: Record<string, unknown>;
}

export type AttrValue = number | string | number[] | { float: number } | { floats: number[] } | Subgraph;
export type Dim = number | string;

interface TensorJson {
  name: string;
  dims: number[];
  dataType: number;
  rawData?: Uint8Array;
  externalData?: { key: string; value: string }[];
  dataLocation?: number;
}

/** Where one stored initializer lives in the shared weights file. */
export interface StoredTensor {
  name: string;
  dims: number[];
  dataType: DataType;
  offset: number;
  length: number;
}

function attribute(name: string, v: AttrValue): Record<string, unknown> {
  if (typeof v === 'number') return Number.isInteger(v) ? { name, type: AT.INT, i: v } : { name, type: AT.FLOAT, f: v };
  if (typeof v === 'string') return { name, type: AT.STRING, s: Buffer.from(v, 'utf8') };
  if (Array.isArray(v)) return { name, type: AT.INTS, ints: v };
  if ('float' in v) return { name, type: AT.FLOAT, f: v.float };
  if ('graph' in v) return { name, type: AT.GRAPH, g: v.graph };
  return { name, type: AT.FLOATS, floats: v.floats };
}

function valueInfo(name: string, elemType: DataType, dims?: readonly Dim[]): Record<string, unknown> {
  return {
    name,
    type: { tensorType: { elemType, ...(dims ? { shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } : {}) } },
  };
}

/** One ONNX graph under construction: nodes, inputs, outputs, small inline constants and references to stored weights. */
export class Graph {
  private nodes: Record<string, unknown>[] = [];
  private inputs: Record<string, unknown>[] = [];
  private outputs: Record<string, unknown>[] = [];
  private inits: TensorJson[] = [];
  private initNames = new Set<string>();
  private counter = 0;
  private usesContrib = false;

  constructor(readonly name: string, private readonly weightsFile: string, readonly opset = 23) {}

  input(name: string, type: DataType, dims: readonly Dim[]): string {
    this.inputs.push(valueInfo(name, type, dims));
    return name;
  }

  output(name: string, type: DataType, dims: readonly Dim[]): void {
    this.outputs.push(valueInfo(name, type, dims));
  }

  /** Adds a node and returns its outputs' names (fresh names unless given). */
  node(op: string, inputs: readonly string[], attrs: Record<string, AttrValue> = {}, opts: { outputs?: number | string[]; domain?: string; name?: string } = {}): string[] {
    const id = this.counter++;
    const nodeName = opts.name ?? `${op}_${id}`;
    const outs = Array.isArray(opts.outputs) ? opts.outputs : Array.from({ length: opts.outputs ?? 1 }, (_, i) => `${nodeName}/out${i}`);
    if (opts.domain === 'com.microsoft') this.usesContrib = true;
    this.nodes.push({
      name: nodeName, opType: op, input: [...inputs], output: outs,
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
      ...(opts.domain ? { domain: opts.domain } : {}),
    });
    return outs;
  }

  /** Shorthand for a single-output node. */
  op(op: string, inputs: readonly string[], attrs: Record<string, AttrValue> = {}, domain?: string, name?: string): string {
    return this.node(op, inputs, attrs, { domain, ...(name ? { outputs: [name], name: name.replace(/[/.]/g, '_') } : {}) })[0]!;
  }

  /** A weight stored in the shared file (added once per graph, however often it is used). */
  stored(t: StoredTensor): string {
    if (!this.initNames.has(t.name)) {
      this.initNames.add(t.name);
      this.inits.push({
        name: t.name, dims: t.dims, dataType: t.dataType, dataLocation: 1,
        externalData: [{ key: 'location', value: this.weightsFile }, { key: 'offset', value: String(t.offset) }, { key: 'length', value: String(t.length) }],
      });
    }
    return t.name;
  }

  /** A small constant kept inside the graph. */
  constant(name: string, type: DataType, dims: number[], values: ArrayLike<number> | ArrayLike<bigint>): string {
    if (this.initNames.has(name)) return name;
    let bytes: Uint8Array;
    if (type === DT.INT64) bytes = new Uint8Array(BigInt64Array.from(values as ArrayLike<number>, (x) => BigInt(x)).buffer);
    else if (type === DT.INT32) bytes = new Uint8Array(Int32Array.from(values as ArrayLike<number>).buffer);
    else if (type === DT.FLOAT) bytes = new Uint8Array(Float32Array.from(values as ArrayLike<number>).buffer);
    else throw new Error(`constant ${name}: unsupported type ${type}`);
    this.initNames.add(name);
    this.inits.push({ name, dims, dataType: type, rawData: bytes });
    return name;
  }

  /** An int64 vector constant, named by its values so equal constants are shared. */
  ints(values: number[]): string {
    return this.constant(`const_i64_${values.join('_').replace(/-/g, 'm')}`, DT.INT64, [values.length], values);
  }

  get nodeCount(): number {
    return this.nodes.length;
  }

  /** The serialised ModelProto. */
  encode(producerVersion: string, metadata: Record<string, string> = {}): Uint8Array {
    const opsets = [{ domain: '', version: this.opset }];
    if (this.usesContrib) opsets.push({ domain: 'com.microsoft', version: 1 });
    const msg = ModelProto.fromObject({
      irVersion: 10,
      producerName: 'hasten-builder',
      producerVersion,
      opsetImport: opsets,
      metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
      graph: { name: this.name, node: this.nodes, input: this.inputs, output: this.outputs, initializer: this.inits },
    });
    return ModelProto.encode(msg).finish();
  }
}
