// Types for gguf.mjs, so the benchmark and the tests can import it from TypeScript.

export declare const GGUF_CACHE_DIR: string;
export declare const WRITER_VERSION: number;
export declare const SOURCE_FILES: readonly string[];
export declare const ALIGNMENT: number;

export interface GgufTensor {
  name: string;
  /** Row-major data. */
  data: Float32Array;
  /** numpy order (outermost first); the file stores it reversed. */
  shape: number[];
}
export type GgufMetadataEntry = [key: string, type: number, value: unknown];

export interface GgufTensorInfo {
  name: string;
  /** ne0 (innermost) first, as in the file. */
  dims: number[];
  /** ggml type: 0 = F32. */
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
export declare function llamaTensors(weights: Map<string, { data: Float32Array; shape: number[] }>, cfg: Record<string, unknown>): GgufTensor[];
export declare function llamaMetadata(cfg: Record<string, unknown>, tok: unknown, name: string): GgufMetadataEntry[];
export declare function encodeGguf(metadata: GgufMetadataEntry[], tensors: GgufTensor[]): Buffer;
/** Writes `out` as a llama GGUF converted from the model folder `modelDir`. */
export declare function writeGguf(modelDir: string, out: string): string;
export declare function sourceKey(modelDir: string): { writerVersion: number; files: Record<string, string> };
/** The cached GGUF of `modelDir`, converted again when its sources changed. */
export declare function ensureGguf(modelDir: string, cacheDir?: string): { path: string; converted: boolean };
export declare function readGguf(buf: Buffer): ParsedGguf;
