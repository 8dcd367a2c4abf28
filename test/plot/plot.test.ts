import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeBatch, type Batch } from '../../src/core/batch.js';
import { foldIn, keyFromSeed, normal, normalBatch, uniform } from '../../src/core/key.js';
import { InputError } from '../../src/io/errors.js';
import {
  countGrid2d,
  histogram2dPlot,
  histogramPlot,
  histogramSpec,
  plotFormat,
  scatterPlot,
  scatterSpec,
  strideIndices,
  writePlot,
} from '../../src/plot/index.js';

// Set TWEEDIE_PLOT_DIR to keep the pictures for a look.
const keep = process.env.TWEEDIE_PLOT_DIR;
const dir = keep ?? mkdtempSync(join(tmpdir(), 'tweedie-plot-'));
afterAll(() => {
  if (!keep) rmSync(dir, { recursive: true, force: true });
});

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** A noisy two-arm spiral, n points. */
function spiral(n: number, seed: number): Batch {
  const key = keyFromSeed(seed);
  const u = uniform(foldIn(key, 0), n);
  const e = normal(foldIn(key, 1), 2 * n);
  const b = makeBatch(n, 2);
  for (let i = 0; i < n; i++) {
    const t = Math.sqrt(u[i]) * 3 * Math.PI;
    const s = i % 2 === 0 ? 1 : -1;
    b.data[2 * i] = (s * (-Math.cos(t) * t)) / 3 + 0.1 * e[2 * i];
    b.data[2 * i + 1] = (s * (Math.sin(t) * t)) / 3 + 0.1 * e[2 * i + 1];
  }
  return b;
}

function pngSize(bytes: Uint8Array): [number, number] {
  const dv = new DataView(bytes.buffer, bytes.byteOffset);
  return [dv.getUint32(16), dv.getUint32(20)]; // IHDR width, height
}

function expectPng(path: string, minW: number, minH: number): void {
  const bytes = readFileSync(path);
  expect(Array.from(bytes.subarray(0, 8))).toEqual(PNG_SIGNATURE);
  const [w, h] = pngSize(bytes);
  expect(w).toBeGreaterThanOrEqual(minW);
  expect(h).toBeGreaterThanOrEqual(minH);
  expect(w).toBeLessThan(4000);
  expect(bytes.length).toBeGreaterThan(5000);
}

function expectSvg(path: string): string {
  const text = readFileSync(path, 'utf8');
  expect(text.startsWith('<svg')).toBe(true);
  expect(text.trimEnd().endsWith('</svg>')).toBe(true);
  expect(text).toMatch(/xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  return text;
}

describe('plots', () => {
  const truth = spiral(10000, 1);
  const samples = spiral(6000, 2);

  it('scatter: svg and png, downsampled, fixed range', async () => {
    const series = [
      { name: 'ground truth', points: truth },
      { name: 'ISSGM', points: samples },
    ];
    const opts = { title: 'Spiral, |x|^2 tilt', range: [-4.5, 4.5] as const, maxPoints: 2000 };
    await scatterPlot(join(dir, 'scatter.svg'), series, opts);
    await scatterPlot(join(dir, 'scatter.png'), series, opts);
    const svg = expectSvg(join(dir, 'scatter.svg'));
    expect(svg).toContain('Spiral, |x|^2 tilt');
    expect(svg).toContain('ground truth');
    expect(svg.length).toBeLessThan(2_000_000);
    expectPng(join(dir, 'scatter.png'), 700, 700);
    // 2000 points per series, chosen deterministically.
    const spec = scatterSpec(series, opts) as unknown as { data: { values: unknown[] } };
    expect(spec.data.values.length).toBe(4000);
    expect(JSON.stringify(scatterSpec(series, opts))).toBe(JSON.stringify(spec));
  });

  it('scatter: side-by-side panels and coordinates of higher-dimensional points', async () => {
    const x = normalBatch(keyFromSeed(5), 500, 8);
    await scatterPlot(join(dir, 'panels.png'), [{ name: 'a', points: x }, { name: 'b', points: truth }], { title: 'panels', layout: 'panels', dims: [0, 1], width: 200, height: 200 });
    expectPng(join(dir, 'panels.png'), 800, 400);
    await expect(scatterPlot(join(dir, 'bad.svg'), [{ name: 'a', points: makeBatch(3, 1) }], { title: 't' })).rejects.toThrow(/dimension 1, cannot draw coordinates 0 and 1/);
  });

  it('2-D histogram from points and from a counts grid', async () => {
    await histogram2dPlot(join(dir, 'hist2d.png'), truth, { title: 'Spiral histogram', bins: 64, range: [-4.5, 4.5] });
    expectPng(join(dir, 'hist2d.png'), 700, 700);
    const grid = countGrid2d(truth, 64, [-4.5, 4.5]);
    let total = 0;
    for (let k = 0; k < grid.counts.length; k++) total += grid.counts[k];
    expect(total + grid.outside).toBe(truth.n);
    await histogram2dPlot(join(dir, 'hist2d.svg'), grid, { title: 'from grid', colorScale: 'log' });
    expectSvg(join(dir, 'hist2d.svg'));
  });

  it('countGrid2d: edges, outside points and the row-major x-by-y layout', () => {
    const pts = makeBatch(6, 2, [0, 0, 1, 1, 0.999, 0, 0.5, 0.25, 1.5, 0, NaN, 0]);
    const g = countGrid2d(pts, [2, 4], [0, 1]);
    // x in [0,1] in 2 bins, y in 4 bins; (1,1) lands in the last bins (closed right edge).
    const want = new Float64Array(8);
    want[0 * 4 + 0] = 1; // (0, 0)
    want[1 * 4 + 3] = 1; // (1, 1)
    want[1 * 4 + 0] = 1; // (0.999, 0)
    want[1 * 4 + 1] = 1; // (0.5, 0.25): x-bin 1 and y-bin 1 (left edges are inside)
    expect(Array.from(g.counts)).toEqual(Array.from(want));
    expect(g.outside).toBe(2);
  });

  it('overlaid 1-D histograms', async () => {
    const a = normal(keyFromSeed(11), 5000);
    const b = normal(keyFromSeed(12), 3000).map((v) => 0.7 * v + 1);
    const withNaN = Float64Array.from([...b.subarray(0, 100), NaN, Infinity]);
    await histogramPlot(join(dir, 'hist.png'), [{ name: 'reference', values: a }, { name: 'model', values: b }], { title: 'Energies', bins: 50, xLabel: 'energy' });
    expectPng(join(dir, 'hist.png'), 700, 400);
    await histogramPlot(join(dir, 'hist.svg'), [{ name: 'x', values: withNaN }], { title: 'with NaN', bins: 10, range: [-1, 1], normalize: false });
    const svg = expectSvg(join(dir, 'hist.svg'));
    expect(svg).toMatch(/2 non-finite/);
    // Normalised heights sum to one per series when the range covers everything.
    const spec = histogramSpec([{ name: 'a', values: a }], { title: 't', bins: 20 }) as unknown as { data: { values: Array<{ h: number }> } };
    const sum = spec.data.values.reduce((s, v) => s + v.h, 0);
    expect(Math.abs(sum - 1)).toBeLessThan(1e-12);
  });

  it('rejects unknown output formats with an InputError; leaves no temp files', async () => {
    expect(plotFormat('a/b.SVG')).toBe('svg');
    await expect(writePlot(join(dir, 'x.pdf'), { mark: 'point', data: { values: [] } })).rejects.toBeInstanceOf(InputError);
    await expect(writePlot(join(dir, 'noext'), { mark: 'point', data: { values: [] } })).rejects.toThrow(/use \.svg or \.png/);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('strideIndices is deterministic and spread out', () => {
    expect(Array.from(strideIndices(10, 4))).toEqual([0, 2, 5, 7]);
    expect(Array.from(strideIndices(3, 10))).toEqual([0, 1, 2]);
    expect(() => strideIndices(3, 0)).toThrow(RangeError);
  });
});
