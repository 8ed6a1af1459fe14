// The report's SVG charts: standalone, titled, every series present, bars to scale, and the same
// bytes for the same input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { barChart, BarDatum, lineChart, scatterChart, stableIds } from '../../bench/plots';

const GROUPS: BarDatum[] = [
  { category: 'line-start', series: 'prompt-lookup', value: 1.66 },
  { category: 'mid-line', series: 'prompt-lookup', value: 1.41 },
  { category: 'line-start', series: 'draft-model', value: 0.86 },
  { category: 'mid-line', series: 'draft-model', value: 0.43 },
  { category: 'line-start', series: 'token-tree', value: 0.2 },
  { category: 'mid-line', series: 'token-tree', value: 1.0 },
];
const BAR = { title: 'Decode speed-up', xLabel: 'workload', yLabel: 'speed-up (x)', groups: GROUPS, refLine: 1 };

function assertStandalone(svg: string, title: string, names: string[]): void {
  assert.match(svg, /^<svg [^>]*\bwidth="\d+(\.\d+)?"[^>]*\bheight="\d+(\.\d+)?"/);
  assert.ok(svg.trimEnd().endsWith('</svg>'));
  assert.ok(svg.includes('fill="white"'), 'explicit white background');
  assert.ok(svg.includes(`>${title}</text>`), 'title');
  for (const n of names) assert.ok(svg.includes(`>${n}</text>`), `series ${n} in the legend`);
  assert.doesNotMatch(svg, /<script|<foreignObject|https?:\/\/(?!www\.w3\.org)/i);
}

/** Every bar: its aria label and its drawn height in pixels. */
function bars(svg: string): { label: string; height: number }[] {
  return [...svg.matchAll(/<path aria-label="([^"]*)" role="graphics-symbol" aria-roledescription="bar" d="M[-\d.e]+,[-\d.e]+h[-\d.e]+v([-\d.e]+)h/g)].map((m) => ({ label: m[1]!, height: Number(m[2]) }));
}

test('bar chart: titled, every series in the legend, a dashed reference line, no script', async () => {
  const svg = await barChart(BAR);
  assertStandalone(svg, BAR.title, ['prompt-lookup', 'draft-model', 'token-tree']);
  assert.ok(svg.includes('>workload</text>') && svg.includes('>speed-up (x)</text>'), 'axis titles');
  assert.match(svg, /stroke-dasharray="6,4"/);
});

test('bar chart: one bar per datum, heights proportional to values', async () => {
  const drawn = bars(await barChart(BAR));
  assert.equal(drawn.length, GROUPS.length, 'a bar for every datum');
  const scale = drawn[0]!.height / GROUPS[0]!.value;
  for (const g of GROUPS) {
    const b = drawn.find((d) => d.label.includes(`workload: ${g.category};`) && d.label.includes(`series: ${g.series}`));
    assert.ok(b, `bar for ${g.category}/${g.series}`);
    assert.ok(Math.abs(b.height - g.value * scale) < 0.01, `${g.category}/${g.series}: ${b.height}px for ${g.value}`);
  }
});

test('bar chart: dropping a datum changes the drawing', async () => {
  const all = bars(await barChart(BAR));
  const fewer = bars(await barChart({ ...BAR, groups: GROUPS.slice(1) }));
  assert.equal(fewer.length, all.length - 1);
});

test('line chart: every series drawn and named, log x axis accepted', async () => {
  const series = [
    { name: 'draft-s', points: [1, 2, 4, 8].map((x, i) => ({ x, y: 0.4 - i * 0.05 })) },
    { name: 'draft-m', points: [1, 2, 4, 8].map((x, i) => ({ x, y: 0.5 - i * 0.06 })) },
  ];
  const svg = await lineChart({ title: 'Acceptance vs draft length', xLabel: 'draft length k (tokens)', yLabel: 'acceptance (fraction)', series, logX: true, refLine: 0.3 });
  assertStandalone(svg, 'Acceptance vs draft length', ['draft-s', 'draft-m']);
  assert.equal((svg.match(/aria-roledescription="line mark"/g) ?? []).length, 2, 'one line per series');
  await assert.rejects(lineChart({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 'a', points: [{ x: 0, y: 1 }] }], logX: true }), /x > 0/);
});

test('scatter chart: points labelled, Pareto front joined', async () => {
  const points = [
    { x: 1.2, y: 100, label: 'prompt-lookup', series: 'lossless', pareto: true },
    { x: 0.9, y: 100, label: 'draft-model', series: 'lossless' },
    { x: 1.5, y: 80, label: 'CALM 0.7', series: 'early exit', pareto: true },
    { x: 2.0, y: 40, label: 'mask-predict T=2', series: 'mask-predict', pareto: true },
  ];
  const svg = await scatterChart({ title: 'Speed-up vs agreement', xLabel: 'speed-up (x)', yLabel: 'agreement (%)', points, refX: 1 });
  assertStandalone(svg, 'Speed-up vs agreement', ['lossless', 'early exit', 'mask-predict']);
  for (const p of points) assert.ok(svg.includes(`>${p.label}</text>`), p.label);
  const front = svg.match(/aria-roledescription="line mark" d="M([^"]*)"/);
  assert.ok(front, 'the front is drawn as a line');
  assert.equal(front[1]!.split('L').length, 3, 'through the three front points');
});

test('charts are deterministic: the same input gives the same bytes', async () => {
  const a = await barChart(BAR);
  await scatterChart({ title: 's', xLabel: 'x', yLabel: 'y', points: [{ x: 1, y: 2, label: 'p', series: 'a' }] });
  assert.equal(await barChart(BAR), a);
  assert.equal(stableIds('<g id="clip7"><path clip-path="url(#clip7)"/></g>'), '<g id="hasten-1"><path clip-path="url(#hasten-1)"/></g>');
});

test('non-finite values are refused with the chart named', async () => {
  await assert.rejects(barChart({ ...BAR, groups: [{ category: 'a', series: 'b', value: NaN }] }), /Decode speed-up.*finite/);
});
