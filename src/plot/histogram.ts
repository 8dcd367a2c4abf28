/** Overlaid 1-D histograms (energies, distances, log-weights), one colour per series. */
import { BASE_CONFIG, writePlot, type RenderOptions, type TopLevelSpec } from './render.js';

export interface HistogramSeries {
  readonly name: string;
  readonly values: ArrayLike<number>;
}

export interface HistogramOptions extends RenderOptions {
  readonly title: string;
  readonly bins: number;
  /** Bin range [lo, hi]; default: min and max of all finite values. Values outside are not drawn. */
  readonly range?: readonly [number, number];
  /** Bar heights as the fraction of each series' values (true) or raw counts [true]. */
  readonly normalize?: boolean;
  readonly xLabel?: string;
  readonly width?: number;
  readonly height?: number;
}

/** The vega-lite spec of `histogramPlot`. */
export function histogramSpec(series: readonly HistogramSeries[], opts: HistogramOptions): TopLevelSpec {
  const bins = opts.bins;
  if (!Number.isInteger(bins) || bins < 1) throw new RangeError(`histogramPlot: bins must be a positive integer, got ${bins}`);
  let lo = opts.range?.[0] ?? Infinity;
  let hi = opts.range?.[1] ?? -Infinity;
  if (!opts.range) {
    for (const s of series) {
      for (let i = 0; i < s.values.length; i++) {
        const v = s.values[i];
        if (Number.isFinite(v)) {
          if (v < lo) lo = v;
          if (v > hi) hi = v;
        }
      }
    }
    if (!(lo <= hi)) [lo, hi] = [0, 1];
    if (lo === hi) [lo, hi] = [lo - 0.5, hi + 0.5];
  } else if (!(Number.isFinite(lo) && Number.isFinite(hi) && lo < hi)) {
    throw new RangeError(`histogramPlot: range must be finite with lo < hi, got [${lo}, ${hi}]`);
  }
  const w = (hi - lo) / bins;
  const normalize = opts.normalize ?? true;
  const values: Array<{ x0: number; x1: number; h: number; series: string }> = [];
  const notes: string[] = [];
  for (const s of series) {
    const counts = new Float64Array(bins);
    let finite = 0;
    let outside = 0;
    for (let i = 0; i < s.values.length; i++) {
      const v = s.values[i];
      if (!Number.isFinite(v)) continue;
      finite++;
      if (v < lo || v > hi) {
        outside++;
        continue;
      }
      counts[Math.min(bins - 1, Math.floor((v - lo) / w))]++;
    }
    const nonFinite = s.values.length - finite;
    if (outside > 0 || nonFinite > 0) {
      notes.push(`${s.name}: ${[outside > 0 ? `${outside} outside range` : '', nonFinite > 0 ? `${nonFinite} non-finite` : ''].filter(Boolean).join(', ')}`);
    }
    const denom = normalize && finite > 0 ? finite : 1;
    for (let k = 0; k < bins; k++) {
      if (counts[k] > 0) values.push({ x0: lo + k * w, x1: lo + (k + 1) * w, h: counts[k] / denom, series: s.name });
    }
  }
  const names = series.map((s) => s.name);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    ...BASE_CONFIG,
    title: notes.length > 0 ? { text: opts.title, subtitle: `not shown: ${notes.join('; ')}` } : opts.title,
    width: opts.width ?? 420,
    height: opts.height ?? 260,
    data: { values },
    mark: { type: 'rect', opacity: 0.45, strokeWidth: 0.5 },
    encoding: {
      x: { field: 'x0', type: 'quantitative', title: opts.xLabel ?? 'value', scale: { domain: [lo, hi], nice: false, zero: false } },
      x2: { field: 'x1' },
      y: { field: 'h', type: 'quantitative', title: normalize ? 'fraction per bin' : 'count' },
      y2: { datum: 0 },
      color: { field: 'series', type: 'nominal', title: null, scale: { domain: names }, legend: { symbolOpacity: 1 } },
      stroke: { field: 'series', type: 'nominal', scale: { domain: names }, legend: null },
    },
  } as TopLevelSpec;
}

/** Overlaid 1-D histograms to `.svg` or `.png`. */
export async function histogramPlot(path: string, series: readonly HistogramSeries[], opts: HistogramOptions): Promise<void> {
  await writePlot(path, histogramSpec(series, opts), opts);
}
