// A seeded random source for the fuzz tests: the same seed gives the same cases on every machine.
import { seededRandom } from '../../../src/engine/sampling';

/** mulberry32, the engine's own seeded source (`seededRandom`). */
export const rng = seededRandom;

/** A whole number in [0, n). */
export const below = (r: () => number, n: number) => Math.floor(r() * n);

/** One element of `xs`. */
export const pick = <T>(r: () => number, xs: readonly T[]): T => xs[below(r, xs.length)]!;
