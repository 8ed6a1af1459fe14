// The event-loop report's share of samples over a threshold, from a histogram's percentile table.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { reportEventLoop, shareAbove } from '../../src/eventLoop';

const table = (pairs: [number, number][]) => ({ percentiles: new Map(pairs.map(([p, ms]) => [p, ms * 1e6])) });

test('shareAbove reads the share of samples above a delay from the percentile table', () => {
  assert.equal(shareAbove(table([[0, 1], [50, 2], [99, 5], [99.5, 30], [100, 40]]), 20), 1 - 0.99);
  assert.equal(shareAbove(table([[0, 1], [100, 3]]), 20), 0);
  assert.equal(shareAbove(table([[0, 25], [100, 30]]), 20), 1);
});

test('reportEventLoop logs a window with a block in it', async () => {
  const lines: string[] = [];
  const stop = reportEventLoop(300, (l) => lines.push(l));
  setTimeout(() => {
    const t = Date.now();
    while (Date.now() - t < 60);
  }, 50);
  await new Promise((r) => setTimeout(r, 400));
  stop();
  assert.equal(lines.length, 1);
  const m = /max ([\d.]+) ms, (\d+) samples, ([\d.]+)% over 20 ms/.exec(lines[0]!);
  assert.ok(m, lines[0]);
  assert.ok(Number(m[1]) >= 50, `the 60 ms block shows in the max (${m[1]})`);
  assert.ok(Number(m[3]) > 0, 'and in the share over 20 ms');
});
