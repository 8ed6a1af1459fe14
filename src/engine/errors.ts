/** An error the user can act on: what went wrong, where, and how to fix it. */
export class HastenError extends Error {
  constructor(
    readonly code: HastenErrorCode,
    message: string,
    /** What the user should do about it: which file, which setting. */
    readonly fix: string,
  ) {
    super(`${message} ${fix}`.trim());
    this.name = 'HastenError';
  }
}

export type HastenErrorCode =
  | 'model-missing'
  | 'model-corrupt'
  | 'model-mismatch'
  | 'tokenizer-mismatch'
  | 'provider-unavailable'
  | 'variant-missing'
  | 'bad-request'
  | 'context-overflow'
  | 'model-too-large'
  | 'build-input'
  | 'download'
  | 'aborted';

/** Throws the signal's reason as an AbortError when it has fired. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError();
}

export function abortError(): Error {
  const err = new Error('The operation was aborted.');
  err.name = 'AbortError';
  return err;
}

export function isAbortError(err: unknown): boolean {
  return err instanceof Error && err.name === 'AbortError';
}
