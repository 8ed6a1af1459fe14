// A whole safetensors checkpoint from a repo: config and tokenizer first, then the weights, as one
// file or as the shards model.safetensors.index.json names, all at the commit the first file
// resolved to. The snapshot folder is then a Hugging Face checkpoint the builder reads as it is.
import fs from 'node:fs';
import path from 'node:path';
import { DownloadedFile, DownloadOptions, downloadFiles, Snapshot } from './download';
import { HubError } from './errors';
import { checkRepoPath } from './layout';
import { CHECKPOINT_FILES, CHECKPOINT_OPTIONAL } from './presets';

const INDEX = 'model.safetensors.index.json';

/**
 * Downloads config, tokenizer and safetensors weights (single or sharded) of `o.repo`: first the
 * small files that say which weights there are (config.json, the shard index), quietly; then the
 * tokenizer and the weights in one call, so progress and the free-space check cover them together.
 */
export async function downloadCheckpoint(o: DownloadOptions, files: { files?: readonly string[]; optionalFiles?: readonly string[] } = {}): Promise<Snapshot> {
  const head = await downloadFiles(['config.json'], { ...o, onProgress: undefined }, [INDEX]);
  const index = head.files.find((f) => f.file === INDEX);
  const weights = index ? shardsOf(index) : ['model.safetensors'];
  const rest = await downloadFiles(
    [...new Set([...(files.files ?? CHECKPOINT_FILES).filter((f) => f !== 'config.json'), ...weights])],
    { ...o, revision: head.commit },
    (files.optionalFiles ?? CHECKPOINT_OPTIONAL).filter((f) => f !== INDEX),
  );
  // refs/<revision> pointed at the commit when the first call resolved it.
  return { dir: head.dir, commit: head.commit, files: [...head.files, ...rest.files] };
}

/** The shard files an index names, each once, in order. */
export function shardsOf(index: DownloadedFile): string[] {
  let map: unknown;
  try {
    map = (JSON.parse(fs.readFileSync(index.path, 'utf8')) as { weight_map?: unknown }).weight_map;
  } catch (err) {
    throw new HubError('bad-metadata', `${path.basename(index.path)} is not valid JSON (${(err as Error).message}).`, 'The repo has a broken index; pick another revision.');
  }
  if (typeof map !== 'object' || map === null) throw new HubError('bad-metadata', `${INDEX} has no weight_map.`, 'The repo has a broken index; pick another revision.');
  const shards = [...new Set(Object.values(map as Record<string, unknown>).map(String))];
  shards.forEach(checkRepoPath);
  if (shards.length === 0) throw new HubError('bad-metadata', `${INDEX} names no shards.`, 'The repo has a broken index; pick another revision.');
  return shards;
}
