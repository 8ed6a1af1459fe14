// A downloaded checkpoint turned into a Hasten model folder by the builder, once: the folder is
// keyed by the checkpoint's etags (sha256 for the LFS weights, so no file is hashed again), the
// builder's version and the dtype, and reused while all three hold.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { build, BUILDER_VERSION } from '../../build/builder';
import type { Dtype } from '../../build/weights';
import type { BuildRunner } from './buildRunner';
import type { Snapshot } from './download';

export interface PrepareOptions {
  snapshot: Snapshot;
  repo: string;
  dtype: Dtype;
  /** Where built folders live (the extension's global storage). */
  modelsDir: string;
  contextLength?: number;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number, what: string) => void;
  /** How to run the builder (default: in this process; the extension forks dist/buildProcess.js). */
  runBuild?: BuildRunner;
}

export interface PreparedModel {
  dir: string;
  key: string;
  /** False when an earlier build with the same key was reused. */
  built: boolean;
}

/** 16 hex digits of sha256 over the checkpoint's files and etags, the builder version and the dtype (and context, if set). */
export function buildKey(snapshot: Snapshot, dtype: Dtype, contextLength?: number): string {
  const h = createHash('sha256');
  for (const f of [...snapshot.files].sort((a, b) => a.file.localeCompare(b.file))) h.update(`${f.file}\0${f.etag}\n`);
  h.update(`builder ${BUILDER_VERSION}\ndtype ${dtype}\ncontext ${contextLength ?? 'model'}\n`);
  return h.digest('hex').slice(0, 16);
}

/** The built folder of a checkpoint, building it unless a build with the same key is there. */
export async function prepareModel(o: PrepareOptions): Promise<PreparedModel> {
  const key = buildKey(o.snapshot, o.dtype, o.contextLength);
  const dir = path.join(o.modelsDir, `${o.repo.replace('/', '--')}-${o.dtype}-${key}`);
  if (isBuilt(dir, o.dtype)) return { dir, key, built: false };
  fs.mkdirSync(o.modelsDir, { recursive: true });
  await (o.runBuild ?? build)({ from: o.snapshot.dir, out: dir, dtype: o.dtype, contextLength: o.contextLength, signal: o.signal, onProgress: o.onProgress, force: true });
  return { dir, key, built: true };
}

function isBuilt(dir: string, dtype: Dtype): boolean {
  try {
    const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as { hasten?: { build?: { builderVersion?: string; dtype?: string } } };
    return cfg.hasten?.build?.builderVersion === BUILDER_VERSION && cfg.hasten.build.dtype === dtype;
  } catch {
    return false;
  }
}
