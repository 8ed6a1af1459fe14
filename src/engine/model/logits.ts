import { argmax } from '../sampling';

/**
 * Logits for a block of positions: row(i) is a view, [vocab]. Rows before `first` were not computed.
 * A greedy read on a device may bring back only each row's argmax (`argmaxes`, computed in the graph)
 * and leave the rows themselves on the device: then `data` is empty and only `argmax(i)` answers.
 */
export class Logits {
  /**
   * `confidences`: each computed row's softmax probability of its argmax, where the graph computed them
   * (the CPU graph's `confidence` output, read with the argmaxes instead of the rows).
   */
  constructor(readonly data: Float32Array, readonly rows: number, readonly vocab: number, readonly first = 0, readonly argmaxes: Int32Array | null = null, readonly confidences: Float32Array | null = null) {}

  /** True when the rows themselves were read (not only their argmaxes). */
  get hasRows(): boolean {
    return this.data.length > 0;
  }

  row(i: number): Float32Array {
    if (i < this.first || i >= this.rows) throw new RangeError(`logits row ${i} was not computed (rows ${this.first}..${this.rows - 1})`);
    if (!this.hasRows) throw new RangeError(`logits row ${i} was not read back: only the argmaxes were (forward with read: 'argmax')`);
    return this.data.subarray((i - this.first) * this.vocab, (i - this.first + 1) * this.vocab);
  }

  /** The greedy token after position i: the graph's argmax when it was read, else the row's. */
  argmax(i: number): number {
    if (i < this.first || i >= this.rows) throw new RangeError(`logits row ${i} was not computed (rows ${this.first}..${this.rows - 1})`);
    return this.argmaxes ? this.argmaxes[i - this.first]! : argmax(this.row(i));
  }

  /** The softmax probability of row i's argmax when the graph computed it, else null (read the row). */
  confidence(i: number): number | null {
    if (i < this.first || i >= this.rows) throw new RangeError(`logits row ${i} was not computed (rows ${this.first}..${this.rows - 1})`);
    return this.confidences ? this.confidences[i - this.first]! : null;
  }
}

/** Typed arrays one after another in a new one: the parts of a block run in pieces (rows, argmaxes or probabilities). */
export function concat<A extends Float32Array | Int32Array>(parts: A[], Ctor: { new (n: number): A }): A {
  const out = new Ctor(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
