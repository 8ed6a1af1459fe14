// Every finished completion's trace, kept for the visualiser: a capped, newest-last store with an
// event per record.
import { summarise, type CompletionTrace, type TraceSummary } from '../engine';
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

  constructor(readonly capacity = 200) {}

  record(r: Omit<TraceRecord, 'summary' | 'at'>): TraceRecord {
    const full: TraceRecord = { ...r, summary: summarise(r.trace), at: Date.now() };
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

  /** Reports a decode in progress. */
  update(live: LiveTrace): void {
    this.progress.fire(live);
  }

  dispose(): void {
    this.emitter.dispose();
    this.progress.dispose();
  }
}
