// Every finished completion's trace, kept for the visualiser and the status bar: a capped,
// newest-last store with an event per record. It lives as long as the window, so it hands out the
// completion ids: unique across engine restarts and model switches.
import { summarise, type CompletionTrace, type TraceSummary } from '../engine';
import { isFollowed } from '../protocol';
import { Emitter, type Event } from './event';

export interface TraceRecord {
  trace: CompletionTrace;
  summary: TraceSummary;
  /** Document the completion was for (a URI string). */
  uri: string;
  languageId: string;
  /** The suggestion shown, after the multi-line policy. */
  shown: string;
  /** Milliseconds from the decode's start to the first text shown, and to its end. */
  firstMs: number | null;
  totalMs: number;
  /** Wall-clock time of the record (ms since the epoch). */
  at: number;
  /** Whether this was a prefetch (decoded as if the previous suggestion were accepted). */
  prefetch: boolean;
  /** Whether its suggestion was handed to the editor (a prefetch is, once the user accepts the one before it). */
  served: boolean;
}

/** A decode in progress: its trace keeps growing, one step at a time, until it is recorded. */
export type LiveTrace = Pick<TraceRecord, 'trace' | 'uri' | 'languageId' | 'prefetch'>;


export class TraceHistory {
  private readonly records: TraceRecord[] = [];
  private readonly emitter = new Emitter<TraceRecord>();
  /** Fires after each completion is recorded. */
  readonly onDidRecordTrace: Event<TraceRecord> = this.emitter.event;
  private readonly progress = new Emitter<LiveTrace>();
  /** Fires as a decode produces each step (the visualiser's live view). */
  readonly onDidUpdateTrace: Event<LiveTrace> = this.progress.event;
  private readonly serving = new Emitter<TraceRecord>();
  /** Fires when a recorded completion (a prefetch) is first handed to the editor. */
  readonly onDidServe: Event<TraceRecord> = this.serving.event;
  private nextId = 1;
  /** Ids served before their decode was recorded (the first line shows while the rest decodes). */
  private readonly servedEarly = new Set<number>();

  constructor(readonly capacity = 200) {}

  /** A completion id unique for the life of the window. */
  newId(): number {
    return this.nextId++;
  }

  /** The last id handed out (0 before the first). */
  get lastId(): number {
    return this.nextId - 1;
  }

  /** Notes that completion `id`'s suggestion was handed to the editor. */
  served(id: number): void {
    const r = this.records.find((x) => x.trace.id === id);
    if (!r) {
      this.servedEarly.add(id);
      if (this.servedEarly.size > this.capacity) this.servedEarly.delete(this.servedEarly.values().next().value!);
      return;
    }
    if (r.served) return;
    r.served = true;
    this.serving.fire(r);
  }

  record(r: Omit<TraceRecord, 'summary' | 'at' | 'served'>): TraceRecord {
    const served = this.servedEarly.delete(r.trace.id);
    const full: TraceRecord = { ...r, served, summary: summarise(r.trace), at: Date.now() };
    this.records.push(full);
    if (this.records.length > this.capacity) this.records.splice(0, this.records.length - this.capacity);
    this.emitter.fire(full);
    return full;
  }

  /** Records oldest first. */
  list(): readonly TraceRecord[] {
    return this.records;
  }

  last(): TraceRecord | undefined {
    return this.records[this.records.length - 1];
  }

  /** The newest completion the user asked for or saw (see isFollowed), among those with an id above `after`. */
  current(after = 0): TraceRecord | undefined {
    for (let i = this.records.length - 1; i >= 0; i--) {
      const r = this.records[i]!;
      if (r.trace.id > after && isFollowed(r)) return r;
    }
    return undefined;
  }

  /** Reports a decode in progress. */
  update(live: LiveTrace): void {
    this.progress.fire(live);
  }

  dispose(): void {
    this.emitter.dispose();
    this.progress.dispose();
    this.serving.dispose();
  }
}
