/** Logits for a block of positions: row(i) is a view, [vocab]. */
export class Logits {
  constructor(readonly data: Float32Array, readonly rows: number, readonly vocab: number) {}
  row(i: number): Float32Array {
    return this.data.subarray(i * this.vocab, (i + 1) * this.vocab);
  }
}
