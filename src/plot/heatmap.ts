/** 2-D histogram heat maps: exact counts on a regular grid, drawn as coloured cells. */
import type { Batch } from '../core/batch.js';
import { BASE_CONFIG, writePlot, type RenderOptions, type TopLevelSpec } from './render.js';
import type { AxisRange } from './scatter.js';

/**
 * Counts on an `nx x ny` grid over `xRange x yRange`, row-major with x bins as rows:
 * `counts[i * ny + j]` is x-bin i, y-bin j. Bins are `[lo + i w, lo + (i+1) w)`, the last one
 * closed on the right.
 */
export interface Grid2d {
  readonly counts: ArrayLike<number>;
  readonly nx: number;
  readonly ny: number;
  readonly xRange: AxisRange;
  readonly yRange: AxisRange;
}

/** Count `points` (coordinates `dims`) on a grid; points outside the ranges or non-finite are left out and counted. */
export function countGrid2d(
  points: Batch,
  bins: number | readonly [number, number],
  range: AxisRange | { readonly x: AxisRange; readonly y: AxisRange },
  dims: readonly [number, number] = [0, 1],
): Grid2d & { readonly outside: number } {
  const [nx, ny] = typeof bins === 'number' ? [bins, bins] : bins;
  if (![nx, ny].every((b) => Number.isInteger(b) && b >= 1)) throw new RangeError(`histogram2d: bins must be positive integers, got ${String(bins)}`);
  const xRange = 'x' in range ? range.x : (range as AxisRange);
  const yRange = 'x' in range ? range.y : (range as AxisRange);
  for (const r of [xRange, yRange]) {
    if (!(Number.isFinite(r[0]) && Number.isFinite(r[1]) && r[0] < r[1])) throw new RangeError(`histogram2d: range must be finite with lo < hi, got [${r[0]}, ${r[1]}]`);
  }
  const [dx, dy] = dims;
  if (dx >= points.dim || dy >= points.dim) throw new RangeError(`histogram2d: points have dimension ${points.dim}, cannot use coordinates ${dx} and ${dy}`);
  const counts = new Float64Array(nx * ny);
  const wx = (xRange[1] - xRange[0]) / nx;
  const wy = (yRange[1] - yRange[0]) / ny;
  let outside = 0;
  for (let k = 0; k < points.n; k++) {
    const x = points.data[k * points.dim + dx];
    const y = points.data[k * points.dim + dy];
    if (!(x >= xRange[0] && x <= xRange[1] && y >= yRange[0] && y <= yRange[1])) {
      outside++;
      continue;
    }
    const i = Math.min(nx - 1, Math.floor((x - xRange[0]) / wx));
    const j = Math.min(ny - 1, Math.floor((y - yRange[0]) / wy));
    counts[i * ny + j]++;
  }
  return { counts, nx, ny, xRange, yRange, outside };
}

export interface Histogram2dOptions extends RenderOptions {
  readonly title: string;
  /** Needed when points (not a grid) are given. */
  readonly bins?: number | readonly [number, number];
  readonly range?: AxisRange | { readonly x: AxisRange; readonly y: AxisRange };
  readonly dims?: readonly [number, number];
  /** Colour scale of the counts ['sqrt']. */
  readonly colorScale?: 'linear' | 'sqrt' | 'log';
  readonly width?: number;
  readonly height?: number;
  readonly xLabel?: string;
  readonly yLabel?: string;
}

function isGrid(x: Batch | Grid2d): x is Grid2d {
  return 'counts' in x;
}

/** The vega-lite spec of `histogram2dPlot`. */
export function histogram2dSpec(input: Batch | Grid2d, opts: Histogram2dOptions): TopLevelSpec {
  let grid: Grid2d;
  let note = '';
  if (isGrid(input)) {
    grid = input;
    if (grid.counts.length !== grid.nx * grid.ny) throw new RangeError(`histogram2d: ${grid.counts.length} counts for a ${grid.nx} x ${grid.ny} grid`);
  } else {
    if (opts.bins === undefined || opts.range === undefined) throw new RangeError('histogram2d: bins and range are needed to count points');
    const g = countGrid2d(input, opts.bins, opts.range, opts.dims);
    grid = g;
    note = `${input.n} points` + (g.outside > 0 ? `, ${g.outside} outside the range not shown` : '');
  }
  const { nx, ny, xRange, yRange, counts } = grid;
  const wx = (xRange[1] - xRange[0]) / nx;
  const wy = (yRange[1] - yRange[0]) / ny;
  const values: Array<{ x0: number; x1: number; y0: number; y1: number; count: number }> = [];
  for (let i = 0; i < nx; i++) {
    for (let j = 0; j < ny; j++) {
      const c = counts[i * ny + j];
      // Empty cells are left out: they show the white background, the colour of zero.
      if (c > 0) values.push({ x0: xRange[0] + i * wx, x1: xRange[0] + (i + 1) * wx, y0: yRange[0] + j * wy, y1: yRange[0] + (j + 1) * wy, count: c });
    }
  }
  const colorScale = opts.colorScale ?? 'sqrt';
  const [dx, dy] = opts.dims ?? [0, 1];
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    ...BASE_CONFIG,
    title: note ? { text: opts.title, subtitle: `${note}; ${nx} x ${ny} bins` } : { text: opts.title, subtitle: `${nx} x ${ny} bins` },
    width: opts.width ?? 360,
    height: opts.height ?? 360,
    data: { values },
    mark: { type: 'rect' },
    encoding: {
      x: { field: 'x0', type: 'quantitative', title: opts.xLabel ?? `x${dx + 1}`, scale: { domain: [xRange[0], xRange[1]], nice: false, zero: false } },
      x2: { field: 'x1' },
      y: { field: 'y0', type: 'quantitative', title: opts.yLabel ?? `x${dy + 1}`, scale: { domain: [yRange[0], yRange[1]], nice: false, zero: false } },
      y2: { field: 'y1' },
      color: {
        field: 'count',
        type: 'quantitative',
        title: 'count',
        scale: colorScale === 'log' ? { type: 'log', scheme: 'yellowgreenblue' } : { type: colorScale, zero: true, scheme: 'yellowgreenblue' },
      },
    },
  } as TopLevelSpec;
}

/** 2-D histogram heat map of points (counted here) or of a counts grid, to `.svg` or `.png`. */
export async function histogram2dPlot(path: string, input: Batch | Grid2d, opts: Histogram2dOptions): Promise<void> {
  await writePlot(path, histogram2dSpec(input, opts), opts);
}
