// Download errors typed by cause, so the command can say exactly what to do (as huggingface_hub's
// GatedRepoError / RepositoryNotFoundError / EntryNotFoundError / LocalEntryNotFoundError do).
// No message ever contains the token.
import { HastenError } from '../errors';

export type HubErrorKind =
  | 'gated'
  | 'repo-not-found'
  | 'revision-not-found'
  | 'file-not-found'
  | 'offline'
  | 'disk-full'
  | 'checksum'
  | 'http'
  | 'bad-metadata'
  | 'certificate';

/** Any failure to fetch a file from the hub; `kind` names the cause. */
export class HubError extends HastenError {
  constructor(readonly kind: HubErrorKind, message: string, fix: string) {
    super('download', message, fix);
    this.name = 'HubError';
  }
}

/** 401/403: a gated or private repo, without a token or with one that has no access. */
export class GatedRepoError extends HubError {
  constructor(repo: string, readonly hadToken: boolean, endpoint: string) {
    super(
      'gated',
      `${repo} needs access (the hub answered ${hadToken ? 'that your token has no access' : 'that a token is required'}).`,
      hadToken
        ? `Accept the model's conditions at ${endpoint}/${repo} with the account of your token, or use a token that has access.`
        : `Accept the model's conditions at ${endpoint}/${repo}, then set a token with "Hasten: Set Hugging Face Token".`,
    );
    this.name = 'GatedRepoError';
  }
}

/** 404 on the repo itself. */
export class RepoNotFoundError extends HubError {
  constructor(repo: string, hadToken: boolean, endpoint: string) {
    super(
      'repo-not-found',
      `The repository ${repo} was not found on ${endpoint}.`,
      hadToken ? 'Check the repo id (owner/name).' : 'Check the repo id (owner/name); a private repo needs a token ("Hasten: Set Hugging Face Token").',
    );
    this.name = 'RepoNotFoundError';
  }
}

/** 404 on a revision or on one file of an existing repo. */
export class EntryNotFoundError extends HubError {
  constructor(readonly what: 'revision' | 'file', repo: string, revision: string, file: string) {
    super(
      what === 'revision' ? 'revision-not-found' : 'file-not-found',
      what === 'revision' ? `${repo} has no revision ${JSON.stringify(revision)}.` : `${repo} has no file ${file} at revision ${revision}.`,
      what === 'revision' ? 'Use a branch, tag or commit of that repo (usually "main").' : 'Check the file name against the repo\'s file list.',
    );
    this.name = 'EntryNotFoundError';
  }
}

/** The hub could not be reached and the file is not in the local cache. */
export class OfflineError extends HubError {
  constructor(endpoint: string, repo: string, file: string, cause: string) {
    super(
      'offline',
      `Cannot reach ${endpoint} (${cause}) and ${repo}/${file} is not in the local cache.`,
      'Check the network, or set hasten.hub.endpoint (or HF_ENDPOINT) to a mirror you can reach.',
    );
    this.name = 'OfflineError';
  }
}

/** Not enough free space for what is left to download (checked before, or ENOSPC while writing). */
export class DiskFullError extends HubError {
  constructor(dir: string, readonly needed: number, readonly free: number) {
    super(
      'disk-full',
      `Not enough disk space in ${dir}: ${mb(needed)} needed, ${mb(free)} free.`,
      'Free some space, or move the cache with HF_HUB_CACHE (or HF_HOME).',
    );
    this.name = 'DiskFullError';
  }
}

/** The downloaded bytes do not hash to the etag, twice. */
export class ChecksumError extends HubError {
  constructor(repo: string, file: string, readonly expected: string, readonly got: string) {
    super(
      'checksum',
      `${repo}/${file} failed its checksum twice (expected ${expected}, got ${got}); the download was discarded.`,
      'Try again later; if it persists, the endpoint (hasten.hub.endpoint / HF_ENDPOINT) may be serving a corrupt copy.',
    );
    this.name = 'ChecksumError';
  }
}

/** Any other HTTP failure; `retryable` for 5xx, 429 and dropped connections. */
export class HubHttpError extends HubError {
  constructor(message: string, readonly status: number, readonly retryable: boolean) {
    super('http', message, retryable ? 'Try again later.' : 'Check hasten.hub.endpoint (or HF_ENDPOINT).');
    this.name = 'HubHttpError';
  }
}

/** A response without the headers the protocol requires (commit, etag, size). */
export class BadMetadataError extends HubError {
  constructor(url: string, missing: string) {
    super('bad-metadata', `${url} answered without ${missing}.`, 'The endpoint (hasten.hub.endpoint / HF_ENDPOINT) does not speak the Hugging Face hub protocol.');
    this.name = 'BadMetadataError';
  }
}

/** The server's TLS certificate does not verify against the trusted CAs: not retried, since no retry fixes it. */
export class CertificateError extends HubError {
  constructor(host: string, reason: string, readonly tlsCode: string) {
    super(
      'certificate',
      `The TLS certificate of ${host} is not trusted (${reason}; ${tlsCode}); nothing was downloaded.`,
      'If a proxy or mirror on your network uses its own certificate authority, start VS Code with NODE_EXTRA_CA_CERTS set to that CA\'s PEM file; otherwise check hasten.hub.endpoint (or HF_ENDPOINT).',
    );
    this.name = 'CertificateError';
  }
}

function mb(n: number): string {
  return `${(n / 1e6).toFixed(1)} MB`;
}
