/** Logits for a block of positions: row(i) is a view, [vocab]. Rows before `first` were not computed. */
export class Logits {
  constructor(readonly data: Float32Array, readonly rows: number, readonly vocab: number, readonly first = 0) {}
  row(i: number): Float32Array {
    if (i < this.first || i >= this.rows) throw new RangeError(`logits row ${i} was not computed (rows ${this.first}..${this.rows - 1})`);
    return this.data.subarray((i - this.first) * this.vocab, (i - this.first + 1) * this.vocab);
  }
}
