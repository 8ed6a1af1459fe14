// A single-consumer async queue. The engine decodes in a producer task that pushes here, so a
// consumer that stops reading can never hold the engine's lock: the producer always runs to its end.

export class Channel<T> {
  private readonly items: T[] = [];
  private waiting: ((r: IteratorResult<T>) => void) | null = null;
  private failWaiting: ((e: unknown) => void) | null = null;
  private closed = false;
  private error: unknown = null;

  push(item: T): void {
    if (this.closed) return;
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = this.failWaiting = null;
      w({ value: item, done: false });
    } else {
      this.items.push(item);
    }
  }

  close(error: unknown = null): void {
    if (this.closed) return;
    this.closed = true;
    this.error = error;
    if (this.waiting) {
      const w = this.waiting;
      const f = this.failWaiting!;
      this.waiting = this.failWaiting = null;
      if (error !== null) f(error);
      else w({ value: undefined, done: true });
    }
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    for (;;) {
      if (this.items.length > 0) {
        yield this.items.shift()!;
        continue;
      }
      if (this.closed) {
        if (this.error !== null) throw this.error;
        return;
      }
      const r = await new Promise<IteratorResult<T>>((resolve, reject) => {
        this.waiting = resolve;
        this.failWaiting = reject;
      });
      if (r.done) return;
      yield r.value;
    }
  }
}
