// Types for gguf.mjs, so the benchmark and the tests can import it from TypeScript.

export declare const GGUF_CACHE_DIR: string;
export declare const WRITER_VERSION: number;
export declare const SOURCE_FILES: readonly string[];
export declare const ALIGNMENT: number;

export type GgmlType = 'F32' | 'F16' | 'Q8_0' | 'Q4_0';
export type GgufQuant = 'F32' | 'Q8_0' | 'Q4_0';
export declare const GGML: Record<GgmlType, { id: number; block: number; bytes: number }>;

export interface GgufTensor {
  name: string;
  /** numpy order (outermost first); the file stores it reversed. */
  shape: number[];
  type: GgmlType;
  /** The encoded data. */
  bytes: Buffer;
}
export type GgufMetadataEntry = [key: string, type: number, value: unknown];

export interface GgufTensorInfo {
  name: string;
  /** ne0 (innermost) first, as in the file. */
  dims: number[];
  /** ggml type id: 0 F32, 1 F16, 2 Q4_0, 8 Q8_0. */
  type: number;
  /** Relative to the data section. */
  offset: number;
}
export interface ParsedGguf {
  version: number;
  metadata: Record<string, unknown>;
  types: Record<string, number>;
  tensors: GgufTensorInfo[];
  dataStart: number;
}

/** Rows of a q/k projection [rows, cols] reordered from rotate_half halves to interleaved pairs. */
export declare function permuteRope(w: Float32Array, rows: number, cols: number, nHead: number): Float32Array;
/** A [rows, cols] weight encoded as ggml `type` (Q8_0 / Q4_0 with the graph builder's rounding). */
export declare function encodeTensor(data: Float32Array, rows: number, cols: number, type: GgmlType): Buffer;
export declare function ggufTensors(read: (name: string) => { data: Float32Array; shape: number[] }, cfg: Record<string, unknown>, quant?: GgufQuant): GgufTensor[];
export declare function llamaMetadata(cfg: Record<string, unknown>, tok: unknown, name: string, quant?: GgufQuant): GgufMetadataEntry[];
export declare function encodeGguf(metadata: GgufMetadataEntry[], tensors: GgufTensor[]): Buffer;
/** Writes `out` as a GGUF (llama or qwen2) converted from the checkpoint folder `modelDir`. */
export declare function writeGguf(modelDir: string, out: string, quant?: GgufQuant): string;
export declare function sourceKey(modelDir: string): { writerVersion: number; files: Record<string, string> };
/** The cached GGUF of `modelDir`, converted again when its sources changed. */
export declare function ensureGguf(modelDir: string, cacheDir?: string, quant?: GgufQuant): { path: string; converted: boolean };
export declare function readGguf(buf: Buffer): ParsedGguf;
