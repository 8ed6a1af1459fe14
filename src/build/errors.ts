import { HastenError } from '../engine/errors';

/** A checkpoint the builder cannot turn into graphs: names the file (and tensor) and the fix. */
export class BuildError extends HastenError {
  constructor(message: string, fix: string) {
    super('build-input', message, fix);
    this.name = 'BuildError';
  }
}
