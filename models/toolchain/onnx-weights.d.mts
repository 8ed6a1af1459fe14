// Types for onnx-weights.mjs.

export interface OnnxInitializer {
  name: string;
  dims: number[];
  /** ONNX TensorProto data type: 1 float, 10 float16. */
  dataType: number;
  raw: Buffer | null;
  external: Record<string, string>;
}
export interface DecoderWeight {
  /** Exact float32 values, row-major in ONNX layout. */
  data: Float32Array;
  shape: number[];
  onnxName: string;
  dataType: number;
}
export declare function readOnnxGraph(onnxPath: string): { initializers: OnnxInitializer[]; nodes: { inputs: string[]; outputs: string[]; op: string }[] };
export declare function tensorToFloat32(t: OnnxInitializer): Float32Array;
/** The decoder's weights by HF parameter name; projections are MatMul weights [in, out]. */
export declare function readDecoderWeights(onnxPath: string): Map<string, DecoderWeight>;
