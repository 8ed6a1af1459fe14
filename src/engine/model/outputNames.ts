// The output names of an ONNX file, read from its protobuf without decoding the rest: WebGPU sessions
// need them before the session exists (`preferredOutputLocation` names each output, and onnxruntime
// rejects names the graph does not have). Large fields (initializers) are skipped by their length, so
// a model with inline weights costs a few small positional reads, not a parse.
import fs from 'node:fs';

/** ModelProto.graph = 7; GraphProto.output = 12; ValueInfoProto.name = 1 (onnx.proto). */
const MODEL_GRAPH = 7;
const GRAPH_OUTPUT = 12;
const VALUE_NAME = 1;

/** The graph outputs' names of an ONNX file, in order. */
export function onnxOutputNames(file: string): string[] {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const graph = findField(fd, 0, size, MODEL_GRAPH);
    if (!graph) return [];
    const names: string[] = [];
    forEachField(fd, graph.start, graph.end, (field, start, end) => {
      if (field !== GRAPH_OUTPUT) return;
      const info = readAt(fd, start, end - start);
      forEachFieldIn(info, (f, s, e) => {
        if (f === VALUE_NAME) names.push(info.subarray(s, e).toString('utf8'));
      });
    });
    return names;
  } finally {
    fs.closeSync(fd);
  }
}

/** GraphProto.node = 1; NodeProto.op_type = 4. */
const GRAPH_NODE = 1;
const NODE_OP_TYPE = 4;

/** The op types of an ONNX file's top-level nodes, in order (read as `onnxOutputNames` reads outputs). */
export function onnxOpTypes(file: string): string[] {
  if (!fs.existsSync(file)) return [];
  const fd = fs.openSync(file, 'r');
  try {
    const graph = findField(fd, 0, fs.fstatSync(fd).size, MODEL_GRAPH);
    if (!graph) return [];
    const ops: string[] = [];
    forEachField(fd, graph.start, graph.end, (field, start, end) => {
      if (field !== GRAPH_NODE) return;
      const node = readAt(fd, start, end - start);
      forEachFieldIn(node, (f, s, e) => {
        if (f === NODE_OP_TYPE) ops.push(node.subarray(s, e).toString('utf8'));
      });
    });
    return ops;
  } finally {
    fs.closeSync(fd);
  }
}

function readAt(fd: number, pos: number, n: number): Buffer {
  const b = Buffer.alloc(n);
  fs.readSync(fd, b, 0, n, pos);
  return b;
}

function varint(b: Buffer, at: number): [number, number] {
  let v = 0;
  let mul = 1;
  for (let i = at; i < b.length; i++) {
    v += (b[i]! & 0x7f) * mul;
    if (!(b[i]! & 0x80)) return [v, i + 1];
    mul *= 128;
  }
  throw new Error('truncated varint');
}

/** Calls `each` for every length-delimited field of the message at [start, end) of the file. */
function forEachField(fd: number, start: number, end: number, each: (field: number, start: number, end: number) => void): void {
  let at = start;
  while (at < end) {
    const head = readAt(fd, at, Math.min(20, end - at));
    const [key, p1] = varint(head, 0);
    const field = Math.floor(key / 8);
    const wire = key & 7;
    let next: number;
    if (wire === 0) next = at + varint(head, p1)[1];
    else if (wire === 1) next = at + p1 + 8;
    else if (wire === 5) next = at + p1 + 4;
    else if (wire === 2) {
      const [len, p2] = varint(head, p1);
      each(field, at + p2, at + p2 + len);
      next = at + p2 + len;
    } else throw new Error(`unsupported protobuf wire type ${wire}`);
    at = next;
  }
}

function findField(fd: number, start: number, end: number, want: number): { start: number; end: number } | null {
  let found: { start: number; end: number } | null = null;
  forEachField(fd, start, end, (f, s, e) => {
    if (f === want && !found) found = { start: s, end: e };
  });
  return found;
}

function forEachFieldIn(b: Buffer, each: (field: number, start: number, end: number) => void): void {
  let at = 0;
  while (at < b.length) {
    const [key, p1] = varint(b, at);
    const wire = key & 7;
    if (wire === 0) at = varint(b, p1)[1];
    else if (wire === 1) at = p1 + 8;
    else if (wire === 5) at = p1 + 4;
    else if (wire === 2) {
      const [len, p2] = varint(b, p1);
      each(Math.floor(key / 8), p2, p2 + len);
      at = p2 + len;
    } else throw new Error(`unsupported protobuf wire type ${wire}`);
  }
}
