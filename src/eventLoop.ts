// The extension host's event-loop delay, logged at intervals when HASTEN_EVENT_LOOP_REPORT_MS is set
// (the storm test reads it; a user can set it to see whether the extension host is stalled).
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

/** The share of samples (0..1) delayed more than `ms`, from the histogram's percentile table. */
export function shareAbove(h: Pick<IntervalHistogram, 'percentiles'>, ms: number): number {
  let below = 0;
  for (const [p, ns] of h.percentiles) if (ns <= ms * 1e6) below = Math.max(below, p);
  return 1 - below / 100;
}

/**
 * Logs p50 / p99 / max event-loop delay every `everyMs` with the sample count and the share of samples
 * over 20 ms (so windows add up to a p99 over any stretch), then starts a fresh window; returns a stop function.
 */
export function reportEventLoop(everyMs: number, log: (line: string) => void): () => void {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const ms = (ns: number) => (ns / 1e6).toFixed(1);
  const timer = setInterval(() => {
    log(`event loop over ${everyMs} ms: p50 ${ms(h.percentile(50))} ms, p99 ${ms(h.percentile(99))} ms, max ${ms(h.max)} ms, ${h.count} samples, ${(100 * shareAbove(h, 20)).toFixed(2)}% over 20 ms`);
    h.reset();
  }, everyMs);
  return () => {
    clearInterval(timer);
    h.disable();
  };
}
