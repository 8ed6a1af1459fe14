// Proves the install left a working CPU binding: `ONNXRUNTIME_NODE_INSTALL=skip` and npm 11's blocked
// install script must not break onnxruntime-node, since its CPU build ships inside the package.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';

// The few protobuf wire-format pieces needed to write an ONNX ModelProto by hand.
function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}
const num = (field: number, n: number) => [...varint(field << 3), ...varint(n)];
const bytes = (field: number, body: number[]) => [...varint((field << 3) | 2), ...varint(body.length), ...body];
const str = (field: number, s: string) => bytes(field, [...Buffer.from(s)]);

/** A float tensor value of shape [n]. */
function floatVector(name: string, n: number): number[] {
  const shape = bytes(2, bytes(1, num(1, n))); // TensorShapeProto { dim { dim_value: n } }
  return [...str(1, name), ...bytes(2, bytes(1, [...num(1, 1), ...shape]))]; // elem_type 1 = FLOAT
}

/** ONNX model computing y = x + x for x: float[3]. */
function addModel(): Uint8Array {
  const node = [...str(1, 'x'), ...str(1, 'x'), ...str(2, 'y'), ...str(4, 'Add')];
  const graph = [...bytes(1, node), ...str(2, 'g'), ...bytes(11, floatVector('x', 3)), ...bytes(12, floatVector('y', 3))];
  return Uint8Array.from([...num(1, 8), ...bytes(7, graph), ...bytes(8, num(2, 13))]); // ir_version 8, opset 13
}

test('onnxruntime-node creates a CPU InferenceSession and runs it', async () => {
  const session = await ort.InferenceSession.create(addModel(), { executionProviders: ['cpu'] });
  try {
    assert.deepEqual(session.inputNames, ['x']);
    const { y } = await session.run({ x: new ort.Tensor('float32', Float32Array.from([1, 2.5, -3]), [3]) });
    assert.deepEqual(Array.from(y?.data as Float32Array), [2, 5, -6]);
  } finally {
    await session.release();
  }
});
