// Feeds documents to the engine's workspace-retrieval index: debounced per document, one update
// at a time (each is chunked by the engine), capped in size, and cancelled when superseded.
import { isAbortError } from '../engine';
import type { Log } from './service';

/** The part of the engine's RetrievalIndex this uses. */
export interface RetrievalIndexLike {
  update(id: string, text: string, signal?: AbortSignal): Promise<void>;
  remove(id: string): void;
}

export const RETRIEVAL_DEBOUNCE_MS = 750;

export class RetrievalFeed {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly pending = new Map<string, () => string>();
  private running: { id: string; ctrl: AbortController } | undefined;
  private chain: Promise<void> = Promise.resolve();
  updates = 0;

  constructor(private readonly index: () => RetrievalIndexLike | undefined, private readonly maxChars: () => number, private readonly log: Log) {}

  /** Indexes the document `id` after `delayMs` without further changes; `text` is read only then. */
  schedule(id: string, text: () => string, delayMs = RETRIEVAL_DEBOUNCE_MS): void {
    clearTimeout(this.timers.get(id));
    this.pending.set(id, text);
    if (this.running?.id === id) this.running.ctrl.abort();
    this.timers.set(id, setTimeout(() => this.run(id), delayMs));
  }

  /** Stops a pending update (the document closed); what was indexed stays. */
  cancel(id: string): void {
    clearTimeout(this.timers.get(id));
    this.timers.delete(id);
    this.pending.delete(id);
  }

  remove(id: string): void {
    this.cancel(id);
    if (this.running?.id === id) this.running.ctrl.abort();
    this.index()?.remove(id);
  }

  /** Resolves when every scheduled update has run (tests, the benchmark). */
  async flush(): Promise<void> {
    for (const [id, t] of this.timers) {
      clearTimeout(t);
      this.run(id);
    }
    await this.chain;
  }

  private run(id: string): void {
    this.timers.delete(id);
    this.chain = this.chain.then(async () => {
      const read = this.pending.get(id);
      const index = this.index();
      this.pending.delete(id);
      if (!read || !index) return;
      const max = this.maxChars();
      if (max === 0) return;
      const ctrl = new AbortController();
      this.running = { id, ctrl };
      try {
        await index.update(id, read().slice(0, max), ctrl.signal);
        this.updates++;
      } catch (err) {
        if (!isAbortError(err)) this.log.warn(`Workspace retrieval could not index ${id}: ${err instanceof Error ? err.message : String(err)}`);
      } finally {
        this.running = undefined;
      }
    });
  }

  dispose(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    this.pending.clear();
    this.running?.ctrl.abort();
  }
}
