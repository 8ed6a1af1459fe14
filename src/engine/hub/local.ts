// What a folder the user points at is: a model Hasten loads as it is (ONNX graphs), a safetensors
// checkpoint the builder must turn into one, or neither (with what is missing).
import fs from 'node:fs';
import path from 'node:path';
import type { DownloadedFile, Snapshot } from './download';

export type FolderKind =
  | { kind: 'onnx' }
  | { kind: 'checkpoint'; weights: string[] }
  | { kind: 'unknown'; why: string };

/** Classifies a folder by its files; reads only names (and a shard index). */
export function classifyFolder(dir: string): FolderKind {
  const has = (f: string) => fs.existsSync(path.join(dir, f));
  if (!has('config.json')) return { kind: 'unknown', why: `${dir} has no config.json (a Hugging Face-layout folder needs one).` };
  const onnxDir = path.join(dir, 'onnx');
  if (fs.existsSync(onnxDir) && fs.readdirSync(onnxDir).some((f) => f.endsWith('.onnx'))) return { kind: 'onnx' };
  if (has('model.safetensors')) return { kind: 'checkpoint', weights: ['model.safetensors'] };
  if (has('model.safetensors.index.json')) {
    try {
      const map = (JSON.parse(fs.readFileSync(path.join(dir, 'model.safetensors.index.json'), 'utf8')) as { weight_map?: Record<string, string> }).weight_map ?? {};
      const shards = [...new Set(Object.values(map))];
      const missing = shards.filter((s) => !has(s));
      if (shards.length && !missing.length) return { kind: 'checkpoint', weights: shards };
      return { kind: 'unknown', why: `${dir}/model.safetensors.index.json names shards that are missing: ${missing.join(', ') || '(none named)'}.` };
    } catch (err) {
      return { kind: 'unknown', why: `${dir}/model.safetensors.index.json is not valid JSON (${(err as Error).message}).` };
    }
  }
  return { kind: 'unknown', why: `${dir} has neither onnx/*.onnx nor safetensors weights (model.safetensors or an index with its shards).` };
}

/**
 * A local checkpoint as a Snapshot for prepareModel's key. Its files carry no hub etag, and hashing
 * gigabytes on every pick would be slow, so each file's key is its size and modification time.
 */
export function localSnapshot(dir: string, weights: readonly string[]): Snapshot {
  const names = ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'model.safetensors.index.json', ...weights].filter((f) => fs.existsSync(path.join(dir, f)));
  const files: DownloadedFile[] = names.map((file) => {
    const p = path.join(dir, file);
    const st = fs.statSync(p);
    return { file, path: p, commit: 'local', etag: `${st.size}-${Math.round(st.mtimeMs)}`, size: st.size, cached: true, received: 0 };
  });
  return { dir, commit: 'local', files };
}
