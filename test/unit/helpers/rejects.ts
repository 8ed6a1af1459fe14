// The error a promise rejects with, checked to be of one of the hub's error types.
import assert from 'node:assert/strict';

/** Awaits `p`, which must reject with a `type`; returns the error for further checks. */
export async function rejects<T extends Error>(p: Promise<unknown>, type: new (...a: never[]) => T): Promise<T> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof type, `expected ${type.name}, got ${(err as Error).name}: ${(err as Error).message}`);
    return err;
  }
  assert.fail(`expected ${type.name}, got success`);
}
