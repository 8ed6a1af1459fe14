// Static SVG charts for the benchmark report, drawn by Vega-Lite and rendered by Vega in plain Node
// (renderer 'none': no browser, no canvas; text widths are estimated, which keeps output identical
// across machines). Data is always inline, so nothing is fetched. Every chart has an explicit white
// background and dark ink, so it reads the same in GitHub's light and dark themes.
import type { TopLevelSpec } from 'vega-lite';

/** Hand axis labels their units, e.g. `decode speed-up over autoregressive (×)` or `latency (ms)`. */
export interface ChartText {
  title: string;
  /** A second line under the title, e.g. the machine and the run. */
  subtitle?: string;
  xLabel: string;
  yLabel: string;
  /** Title of the colour legend; none by default. */
  legendTitle?: string;
  /** Plot area in pixels (the axes, title and legend add to it). */
  width?: number;
  height?: number;
}

export interface BarDatum {
  category: string;
  series: string;
  value: number;
}

export interface BarChartOptions extends ChartText {
  groups: readonly BarDatum[];
  /** A dashed horizontal line at this value, e.g. 1.0 for "as fast as autoregressive". */
  refLine?: number;
  /** d3-format of the value printed over each bar; null prints none. Default `.2f`. */
  valueFormat?: string | null;
}

export interface LineSeries {
  name: string;
  points: readonly { x: number; y: number }[];
}

export interface LineChartOptions extends ChartText {
  series: readonly LineSeries[];
  logX?: boolean;
  /** A dashed horizontal line at this y. */
  refLine?: number;
  /** Start the y axis at zero (default true). */
  yZero?: boolean;
}

export interface ScatterPoint {
  x: number;
  y: number;
  /** Printed beside the point. */
  label: string;
  series: string;
  /** On the Pareto front: front points are joined by a line in x order. */
  pareto?: boolean;
}

export interface ScatterChartOptions extends ChartText {
  points: readonly ScatterPoint[];
  /** Dashed reference lines, e.g. x = 1.0 (no speed-up). */
  refX?: number;
  refY?: number;
}

const FONT = 'Helvetica, Arial, sans-serif';
const INK = '#1f2328';
// Tableau 10: distinguishable on white and for the common colour-vision deficiencies.
const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

const CONFIG = {
  font: FONT,
  background: 'white',
  padding: 12,
  title: { fontSize: 15, subtitleFontSize: 11, anchor: 'start', color: INK, subtitleColor: '#57606a', offset: 10 },
  axis: { labelFontSize: 11, titleFontSize: 12, labelColor: INK, titleColor: INK, domainColor: '#57606a', tickColor: '#57606a', gridColor: '#e6e8eb', titleFontWeight: 'normal' },
  legend: { labelFontSize: 11, titleFontSize: 12, labelColor: INK, titleColor: INK, orient: 'bottom', direction: 'horizontal', columns: 3, labelLimit: 320 },
  view: { stroke: '#d0d7de' },
  text: { font: FONT, color: INK },
} as const;

/** Distinct values in first-appearance order: legends and axes follow the caller's order, not sorting. */
function ordered(values: Iterable<string>): string[] {
  return [...new Set(values)];
}

function titleOf(o: ChartText) {
  return o.subtitle ? { text: o.title, subtitle: o.subtitle } : { text: o.title };
}

function colour(domain: string[], legendTitle: string | undefined) {
  const range = domain.map((_, i) => PALETTE[i % PALETTE.length]!);
  return { field: 'series', type: 'nominal', scale: { domain, range }, legend: { title: legendTitle ?? null } } as const;
}

function rule(axis: 'x' | 'y', at: number) {
  return { mark: { type: 'rule', strokeDash: [6, 4], color: '#57606a', strokeWidth: 1.5 }, encoding: { [axis]: { datum: at, type: 'quantitative' } } } as const;
}

function checkFinite(what: string, values: readonly number[]): void {
  const bad = values.find((v) => !Number.isFinite(v));
  if (bad !== undefined) throw new Error(`${what}: every value must be a finite number (got ${bad}); drop or fix that row before plotting.`);
}

/** The Vega-Lite spec of a grouped bar chart: one group per category, one bar per series. */
export function barSpec(o: BarChartOptions): TopLevelSpec {
  checkFinite(`bar chart "${o.title}"`, o.groups.map((g) => g.value));
  const categories = ordered(o.groups.map((g) => g.category));
  const series = ordered(o.groups.map((g) => g.series));
  const x = { field: 'category', type: 'nominal', sort: categories, title: o.xLabel, axis: { labelAngle: categories.some((c) => c.length > 12) ? -30 : 0, labelLimit: 240 } } as const;
  const xOffset = { field: 'series', type: 'nominal', sort: series } as const;
  const y = { field: 'value', type: 'quantitative', title: o.yLabel } as const;
  const format = o.valueFormat === undefined ? '.2f' : o.valueFormat;
  return {
    config: CONFIG,
    title: titleOf(o),
    width: o.width ?? Math.max(360, categories.length * (series.length * 22 + 24)),
    height: o.height ?? 260,
    data: { values: o.groups.map((g) => ({ category: g.category, series: g.series, value: g.value })) },
    layer: [
      { mark: { type: 'bar' }, encoding: { x, xOffset, y, color: colour(series, o.legendTitle) } },
      ...(format === null ? [] : [{ mark: { type: 'text', dy: -5, fontSize: 9 }, encoding: { x, xOffset, y, text: { field: 'value', type: 'quantitative', format } } } as const]),
      ...(o.refLine === undefined ? [] : [rule('y', o.refLine)]),
    ],
  } as TopLevelSpec;
}

/** The Vega-Lite spec of a line chart: one line with point markers per series. */
export function lineSpec(o: LineChartOptions): TopLevelSpec {
  const rows = o.series.flatMap((s) => s.points.map((p) => ({ series: s.name, x: p.x, y: p.y })));
  checkFinite(`line chart "${o.title}"`, rows.flatMap((r) => [r.x, r.y]));
  if (o.logX && rows.some((r) => r.x <= 0)) throw new Error(`line chart "${o.title}": a log x axis needs every x > 0.`);
  const series = o.series.map((s) => s.name);
  return {
    config: CONFIG,
    title: titleOf(o),
    width: o.width ?? 420,
    height: o.height ?? 260,
    data: { values: rows },
    layer: [
      {
        mark: { type: 'line', point: { filled: true, size: 40 }, strokeWidth: 2 },
        encoding: {
          x: { field: 'x', type: 'quantitative', title: o.xLabel, scale: o.logX ? { type: 'log' } : { zero: false } },
          y: { field: 'y', type: 'quantitative', title: o.yLabel, scale: { zero: o.yZero ?? true } },
          color: colour(series, o.legendTitle),
          order: { field: 'x', type: 'quantitative' },
        },
      },
      ...(o.refLine === undefined ? [] : [rule('y', o.refLine)]),
    ],
  } as TopLevelSpec;
}

/** The Vega-Lite spec of a labelled scatter plot whose Pareto-front points are joined in x order. */
export function scatterSpec(o: ScatterChartOptions): TopLevelSpec {
  checkFinite(`scatter chart "${o.title}"`, o.points.flatMap((p) => [p.x, p.y]));
  const series = ordered(o.points.map((p) => p.series));
  const x = { field: 'x', type: 'quantitative', title: o.xLabel, scale: { zero: false, nice: true, padding: 12 } } as const;
  const y = { field: 'y', type: 'quantitative', title: o.yLabel, scale: { zero: false, nice: true, padding: 12 } } as const;
  const front = o.points.some((p) => p.pareto);
  return {
    config: CONFIG,
    title: titleOf({ ...o, subtitle: o.subtitle ?? (front ? 'grey line: the Pareto front' : undefined) }),
    width: o.width ?? 420,
    height: o.height ?? 300,
    data: { values: o.points.map((p) => ({ x: p.x, y: p.y, label: p.label, series: p.series, pareto: p.pareto === true })) },
    layer: [
      ...(front ? [{ transform: [{ filter: 'datum.pareto' }], mark: { type: 'line', color: '#8c959f', strokeWidth: 2 }, encoding: { x, y, order: { field: 'x', type: 'quantitative' } } } as const] : []),
      { mark: { type: 'point', filled: true, size: 70, opacity: 1 }, encoding: { x, y, color: colour(series, o.legendTitle), shape: { field: 'series', type: 'nominal', scale: { domain: series }, legend: { title: o.legendTitle ?? null } } } },
      { mark: { type: 'text', align: 'left', dx: 7, dy: -3, fontSize: 10 }, encoding: { x, y, text: { field: 'label', type: 'nominal' } } },
      ...(o.refX === undefined ? [] : [rule('x', o.refX)]),
      ...(o.refY === undefined ? [] : [rule('y', o.refY)]),
    ],
  } as TopLevelSpec;
}

/** Renders a Vega-Lite spec to a standalone SVG string. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  // Vega and Vega-Lite are ESM-only; importing them lazily keeps this module loadable from CJS.
  const [vega, vl] = await Promise.all([import('vega'), import('vega-lite')]);
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  try {
    return stableIds(await view.toSVG());
  } finally {
    view.finalize();
  }
}

/** Vega numbers clip paths and gradients from a process-wide counter; renumber them per chart so reruns diff cleanly. */
export function stableIds(svg: string): string {
  const ids = new Map<string, string>();
  for (const m of svg.matchAll(/\bid="([^"]+)"/g)) if (!ids.has(m[1]!)) ids.set(m[1]!, `hasten-${ids.size + 1}`);
  if (ids.size === 0) return svg;
  return svg.replace(/\bid="([^"]+)"|url\(#([^)]+)\)|href="#([^"]+)"/g, (all, a?: string, b?: string, c?: string) => {
    if (a) return `id="${ids.get(a) ?? a}"`;
    if (b) return `url(#${ids.get(b) ?? b})`;
    if (c) return all.replace(c, ids.get(c) ?? c);
    return all;
  });
}

/** Grouped bars (e.g. speed-up per strategy per workload, dashed line at 1.0×) as SVG. */
export async function barChart(o: BarChartOptions): Promise<string> {
  return renderSvg(barSpec(o));
}

/** Lines with point markers (e.g. acceptance vs draft length per draft model) as SVG. */
export async function lineChart(o: LineChartOptions): Promise<string> {
  return renderSvg(lineSpec(o));
}

/** Labelled points with the Pareto front joined (e.g. speed-up vs agreement) as SVG. */
export async function scatterChart(o: ScatterChartOptions): Promise<string> {
  return renderSvg(scatterSpec(o));
}
