/** Scatter plots of 2-D point sets, one colour per series, overlaid or side by side. */
import type { Batch } from '../core/batch.js';
import { BASE_CONFIG, writePlot, type RenderOptions, type TopLevelSpec } from './render.js';

export interface ScatterSeries {
  readonly name: string;
  /** Points; coordinates `dims` (default 0 and 1) are drawn. */
  readonly points: Batch;
}

export type AxisRange = readonly [number, number];

export interface ScatterOptions extends RenderOptions {
  readonly title: string;
  /** Fixed axis range: one range for both axes, or one each. Points outside are clipped. */
  readonly range?: AxisRange | { readonly x: AxisRange; readonly y: AxisRange };
  /** Width and height of one panel in pixels [360 x 360]. */
  readonly width?: number;
  readonly height?: number;
  /** The two coordinates to draw, for points of dimension above 2 [[0, 1]]. */
  readonly dims?: readonly [number, number];
  /** Points drawn per series at most, chosen by an even stride, deterministic [3000]. */
  readonly maxPoints?: number;
  /** 'overlay' draws every series in one panel; 'panels' gives each its own [overlay]. */
  readonly layout?: 'overlay' | 'panels';
  readonly xLabel?: string;
  readonly yLabel?: string;
}

/**
 * Indices of at most `max` of `n` items at an even stride (`floor(i n / max)`): deterministic
 * and spread over the whole set, so a downsampled plot of shuffled samples stays representative.
 */
export function strideIndices(n: number, max: number): Int32Array {
  if (!Number.isInteger(max) || max < 1) throw new RangeError(`maxPoints must be a positive integer, got ${max}`);
  const m = Math.min(n, max);
  const out = new Int32Array(m);
  for (let i = 0; i < m; i++) out[i] = m === n ? i : Math.floor((i * n) / m);
  return out;
}

function ranges(r: ScatterOptions['range']): { x?: AxisRange; y?: AxisRange } {
  if (r === undefined) return {};
  if ('x' in r) return { x: r.x, y: r.y };
  return { x: r as AxisRange, y: r as AxisRange };
}

/** The vega-lite spec of `scatterPlot` (exposed for tests and composition). */
export function scatterSpec(series: readonly ScatterSeries[], opts: ScatterOptions): TopLevelSpec {
  const [dx, dy] = opts.dims ?? [0, 1];
  const maxPoints = opts.maxPoints ?? 3000;
  const values: Array<{ x: number; y: number; series: string }> = [];
  const { x: xr, y: yr } = ranges(opts.range);
  let dropped = 0;
  let outside = 0;
  for (const s of series) {
    const b = s.points;
    if (dx >= b.dim || dy >= b.dim || dx < 0 || dy < 0) {
      throw new RangeError(`scatterPlot: series '${s.name}' has dimension ${b.dim}, cannot draw coordinates ${dx} and ${dy}`);
    }
    for (const i of strideIndices(b.n, maxPoints)) {
      const x = b.data[i * b.dim + dx];
      const y = b.data[i * b.dim + dy];
      if (!Number.isFinite(x) || !Number.isFinite(y)) dropped++;
      // Points far outside a fixed range are left out rather than clipped by the renderer
      // (resvg panicked on a clip path with points ~10x outside the domain).
      else if (xr && (x < xr[0] || x > xr[1])) outside++;
      else if (yr && (y < yr[0] || y > yr[1])) outside++;
      else values.push({ x, y, series: s.name });
    }
  }
  const names = series.map((s) => s.name);
  const scale = (r?: AxisRange) => (r ? { domain: [r[0], r[1]], nice: false, zero: false } : { zero: false });
  const shown = series.map((s) => `${s.name}: ${Math.min(s.points.n, maxPoints)} of ${s.points.n}`).join(', ');
  const subtitle = `points shown: ${shown}` + (dropped > 0 ? `; ${dropped} non-finite not shown` : '') + (outside > 0 ? `; ${outside} outside the axes not shown` : '');
  const panels = opts.layout === 'panels';
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    ...BASE_CONFIG,
    title: { text: opts.title, subtitle },
    width: opts.width ?? 360,
    height: opts.height ?? 360,
    data: { values },
    mark: { type: 'circle', size: 6, opacity: panels ? 0.6 : 0.45, clip: true },
    encoding: {
      x: { field: 'x', type: 'quantitative', title: opts.xLabel ?? `x${dx + 1}`, scale: scale(xr) },
      y: { field: 'y', type: 'quantitative', title: opts.yLabel ?? `x${dy + 1}`, scale: scale(yr) },
      color: { field: 'series', type: 'nominal', title: null, scale: { domain: names }, legend: { symbolOpacity: 1 } },
      ...(panels ? { column: { field: 'series', type: 'nominal', title: null, sort: names } } : {}),
    },
  } as TopLevelSpec;
}

/** Scatter plot of one or more 2-D point sets to `.svg` or `.png`. */
export async function scatterPlot(path: string, series: readonly ScatterSeries[], opts: ScatterOptions): Promise<void> {
  await writePlot(path, scatterSpec(series, opts), opts);
}
