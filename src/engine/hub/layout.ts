// The cache layout huggingface_hub and the tools that imitate it share:
//   <cache>/models--{org}--{name}/blobs/{etag}            the bytes, named by etag
//                                /blobs/{etag}.incomplete  a partial download
//                                /snapshots/{commit}/{path} a relative symlink to the blob (a copy where links fail)
//                                /refs/{revision}           the commit the revision pointed at
// Reusing it means a model fetched by another tool is found here, and ours is found by theirs.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HubError } from './errors';

export const DEFAULT_ENDPOINT = 'https://huggingface.co';
const REPO_ID = /^[A-Za-z0-9][\w.-]{0,95}\/[A-Za-z0-9][\w.-]{0,95}$/;
const COMMIT = /^[0-9a-f]{40}$/;

/** The hub endpoint: an explicit setting, else HF_ENDPOINT, else the public hub (no trailing slash). */
export function resolveEndpoint(setting: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const raw = (setting?.trim() || env.HF_ENDPOINT?.trim() || DEFAULT_ENDPOINT).replace(/\/+$/, '');
  try {
    const u = new URL(raw);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http(s)');
  } catch {
    throw new HubError('bad-metadata', `The hub endpoint ${JSON.stringify(raw)} is not an http(s) URL.`, 'Fix hasten.hub.endpoint (or HF_ENDPOINT), e.g. https://huggingface.co.');
  }
  return raw;
}

/** The hub cache folder: HF_HUB_CACHE, else HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub. */
export function hubCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HF_HUB_CACHE) return env.HF_HUB_CACHE;
  if (env.HUGGINGFACE_HUB_CACHE) return env.HUGGINGFACE_HUB_CACHE;
  if (env.HF_HOME) return path.join(env.HF_HOME, 'hub');
  const xdg = env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(xdg, 'huggingface', 'hub');
}

/**
 * A token other tools left for us, as huggingface_hub finds it: HF_TOKEN, else the file
 * `huggingface-cli login` writes (HF_TOKEN_PATH, else HF_HOME/token, else ~/.cache/huggingface/token).
 */
export function defaultToken(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.HF_TOKEN?.trim()) return env.HF_TOKEN.trim();
  const home = env.HF_HOME || path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'huggingface');
  try {
    return fs.readFileSync(env.HF_TOKEN_PATH || path.join(home, 'token'), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Throws unless `repo` looks like owner/name. */
export function checkRepoId(repo: string): void {
  if (!REPO_ID.test(repo) || repo.includes('--') || repo.includes('..')) {
    throw new HubError('repo-not-found', `${JSON.stringify(repo)} is not a Hugging Face repo id.`, 'Use owner/name, e.g. Qwen/Qwen2.5-Coder-1.5B.');
  }
}

/** Throws unless `file` is a relative path inside a repo. */
export function checkRepoPath(file: string): void {
  const parts = file.split('/');
  if (!file || file.startsWith('/') || file.includes('\\') || parts.some((p) => p === '' || p === '.' || p === '..')) {
    throw new HubError('file-not-found', `${JSON.stringify(file)} is not a file path inside a repo.`, 'Use a relative path such as model.safetensors or onnx/model.onnx.');
  }
}

export const isCommit = (revision: string): boolean => COMMIT.test(revision);

/** Paths of one repo in the cache. */
export class RepoCache {
  readonly dir: string;
  constructor(readonly cacheDir: string, readonly repo: string) {
    checkRepoId(repo);
    this.dir = path.join(cacheDir, `models--${repo.replace('/', '--')}`);
  }

  blob(etag: string): string {
    return path.join(this.dir, 'blobs', etag);
  }

  incomplete(etag: string): string {
    return `${this.blob(etag)}.incomplete`;
  }

  /** Hasten's cross-process lock for one blob (beside huggingface_hub's .locks, under its own name). */
  lock(etag: string): string {
    return path.join(this.cacheDir, '.locks', path.basename(this.dir), `${etag}.hasten.lock`);
  }

  snapshotDir(commit: string): string {
    return path.join(this.dir, 'snapshots', commit);
  }

  snapshotFile(commit: string, file: string): string {
    return path.join(this.snapshotDir(commit), ...file.split('/'));
  }

  refFile(revision: string): string {
    return path.join(this.dir, 'refs', ...revision.split('/'));
  }

  /** The commit a revision resolves to locally: itself when a commit hash, else refs/{revision}. */
  localCommit(revision: string): string | undefined {
    if (isCommit(revision)) return revision;
    try {
      const c = fs.readFileSync(this.refFile(revision), 'utf8').trim();
      return isCommit(c) ? c : undefined;
    } catch {
      return undefined;
    }
  }

  /** The cached snapshot path of a file at a revision, if present (a dangling link counts as absent). */
  cachedFile(revision: string, file: string): { path: string; commit: string } | undefined {
    const commit = this.localCommit(revision);
    if (!commit) return undefined;
    const p = this.snapshotFile(commit, file);
    try {
      if (fs.statSync(p).isFile()) return { path: p, commit };
    } catch {
      // absent or dangling
    }
    return undefined;
  }

  /** Records refs/{revision} = commit (nothing when the revision is the commit). */
  writeRef(revision: string, commit: string): void {
    if (revision === commit) return;
    const ref = this.refFile(revision);
    fs.mkdirSync(path.dirname(ref), { recursive: true });
    let current = '';
    try {
      current = fs.readFileSync(ref, 'utf8');
    } catch {
      // new ref
    }
    if (current !== commit) fs.writeFileSync(ref, commit);
  }

  /** Points snapshots/{commit}/{file} at blobs/{etag}: a relative symlink, or a copy where symlinks are refused. */
  link(commit: string, file: string, etag: string): string {
    const dest = this.snapshotFile(commit, file);
    const blob = this.blob(etag);
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    try {
      if (fs.realpathSync(dest) === fs.realpathSync(blob)) return dest;
    } catch {
      // absent or dangling: replaced below
    }
    fs.rmSync(dest, { force: true });
    try {
      fs.symlinkSync(path.relative(path.dirname(dest), blob), dest);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EPERM' && code !== 'EACCES' && code !== 'ENOTSUP' && code !== 'EINVAL') throw err;
      fs.copyFileSync(blob, dest);
    }
    return dest;
  }
}
