// At most one decode in flight, and the newest request wins: starting a job aborts the previous
// one, and the new job waits until the previous has settled (the engine stops within one step).

export interface Job {
  readonly signal: AbortSignal;
  abort(): void;
  /** Settles when the job has run (or was skipped because it was aborted before its turn). */
  readonly done: Promise<void>;
  /** Whether no newer job has started since this one. */
  isNewest(): boolean;
}

export class DecodeScheduler {
  private tail: Promise<void> = Promise.resolve();
  private current: AbortController | undefined;
  private running = 0;
  /** The most decodes ever running at once: 1 by construction; the e2e tests read it from the log. */
  maxInFlight = 0;
  started = 0;

  get inFlight(): number {
    return this.running;
  }

  /** Queues `decode` behind the current job, which is aborted. `decode` must not throw. */
  start(decode: (signal: AbortSignal) => Promise<void>): Job {
    this.current?.abort();
    const ctrl = new AbortController();
    this.current = ctrl;
    const done = this.tail.then(async () => {
      if (ctrl.signal.aborted) return;
      this.running++;
      this.started++;
      this.maxInFlight = Math.max(this.maxInFlight, this.running);
      try {
        await decode(ctrl.signal);
      } finally {
        this.running--;
      }
    });
    this.tail = done.catch(() => {});
    return { signal: ctrl.signal, abort: () => ctrl.abort(), done, isNewest: () => this.current === ctrl };
  }

  /** Aborts the current job and resolves when nothing is running. */
  async idle(): Promise<void> {
    this.current?.abort();
    await this.tail;
  }
}
