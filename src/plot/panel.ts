/**
 * A grid of 2-D histograms, one per (row, column): the ISSGM paper's Fig. 2 shape — histograms of
 * the Tweedie estimate `E[x0 | xt]` along the reverse process, one row per process (`p`, `q`),
 * one column per time.
 */
import type { Batch } from '../core/batch.js';
import { countGrid2d } from './heatmap.js';
import { BASE_CONFIG, writePlot, type RenderOptions, type TopLevelSpec } from './render.js';

export interface PanelCell {
  readonly row: string;
  readonly column: string;
  readonly points: Batch;
}

export interface PanelOptions extends RenderOptions {
  readonly title: string;
  readonly bins: number;
  /** Square `[-range, range]^2` of every cell. */
  readonly range: number;
  /** Size of one cell in pixels [150]. */
  readonly cell?: number;
}

export function histogramPanelSpec(cells: readonly PanelCell[], opts: PanelOptions): TopLevelSpec {
  const r = opts.range;
  const w = (2 * r) / opts.bins;
  const values: Array<{ row: string; column: string; x0: number; x1: number; y0: number; y1: number; density: number }> = [];
  for (const c of cells) {
    const g = countGrid2d(c.points, opts.bins, [-r, r]);
    let total = 0;
    for (let k = 0; k < g.counts.length; k++) total += g.counts[k];
    for (let i = 0; i < opts.bins; i++) {
      for (let j = 0; j < opts.bins; j++) {
        const n = g.counts[i * opts.bins + j];
        // Each cell is normalised to its own total so that every panel uses the whole colour scale.
        if (n > 0) values.push({ row: c.row, column: c.column, x0: -r + i * w, x1: -r + (i + 1) * w, y0: -r + j * w, y1: -r + (j + 1) * w, density: n / total });
      }
    }
  }
  const columns = [...new Set(cells.map((c) => c.column))];
  const rows = [...new Set(cells.map((c) => c.row))];
  const size = opts.cell ?? 150;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    ...BASE_CONFIG,
    title: { text: opts.title, subtitle: `${opts.bins} x ${opts.bins} bins on [-${r}, ${r}]^2, each panel normalised` },
    data: { values },
    facet: {
      row: { field: 'row', type: 'nominal', title: null, sort: rows },
      column: { field: 'column', type: 'nominal', title: null, sort: columns },
    },
    spec: {
      width: size,
      height: size,
      mark: { type: 'rect' },
      encoding: {
        x: { field: 'x0', type: 'quantitative', title: null, scale: { domain: [-r, r], nice: false, zero: false } },
        x2: { field: 'x1' },
        y: { field: 'y0', type: 'quantitative', title: null, scale: { domain: [-r, r], nice: false, zero: false } },
        y2: { field: 'y1' },
        color: { field: 'density', type: 'quantitative', title: 'share', scale: { type: 'sqrt', zero: true, scheme: 'yellowgreenblue' } },
      },
    },
  } as TopLevelSpec;
}

/** Write the panel grid to `.svg` or `.png`. */
export async function histogramPanelPlot(path: string, cells: readonly PanelCell[], opts: PanelOptions): Promise<void> {
  await writePlot(path, histogramPanelSpec(cells, opts), opts);
}
