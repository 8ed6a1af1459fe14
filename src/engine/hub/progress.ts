// What a download's progress notification says: MB done of the total, MB/s over the last seconds
// (network bytes only, so a resumed or cached part does not inflate the rate), and the time left.

/** One reading of a download. */
export interface ProgressSample {
  done: number;
  total: number;
  /** Network bytes so far. */
  received: number;
}

/** Rate over a sliding window of `windowMs`, and the message built from it. */
export class ProgressMeter {
  private readonly samples: { t: number; received: number }[] = [];

  constructor(private readonly windowMs = 5000) {}

  /** Records a sample at `now` (ms) and returns the message for it. */
  update(s: ProgressSample, now: number): string {
    this.samples.push({ t: now, received: s.received });
    while (this.samples.length > 2 && now - this.samples[1]!.t >= this.windowMs) this.samples.shift();
    return formatProgress(s, this.rate());
  }

  /** Bytes per second over the window (0 until two samples span some time). */
  rate(): number {
    const first = this.samples[0];
    const last = this.samples.at(-1);
    if (!first || !last || last.t <= first.t) return 0;
    return ((last.received - first.received) * 1000) / (last.t - first.t);
  }
}

/** "120.3 / 1544.0 MB · 25.1 MB/s · 57 s left". */
export function formatProgress(s: ProgressSample, bytesPerSecond: number): string {
  const mb = (n: number) => (n / 1e6).toFixed(1);
  const parts = [`${mb(s.done)} / ${mb(s.total)} MB`];
  if (bytesPerSecond > 0) {
    parts.push(`${mb(bytesPerSecond)} MB/s`);
    if (s.total > s.done) parts.push(`${formatDuration((s.total - s.done) / bytesPerSecond)} left`);
  }
  return parts.join(' · ');
}

/** 42 s, 3 min 05 s, 1 h 02 min. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}
