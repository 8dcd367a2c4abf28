/**
 * Grids of small grey images (e.g. 64 digits of 8x8 pixels) as SVG rectangles, side by side
 * with a title per panel, rasterised to PNG by the same resvg path as every other plot
 * (`render.ts`). No raster library needed: an 8x8 image is 64 rects, so a panel of 64 digits is
 * at most 4,096 rects (paper-white pixels are skipped, the panel background is white).
 */
import type { Batch } from '../core/batch.js';
import { writeFileAtomic } from '../io/atomic.js';
import { plotFormat, svgToPng, type RenderOptions } from './render.js';

export interface ImagePanel {
  readonly title: string;
  /** Rows are images, `side * side` values row-major. */
  readonly images: Batch;
}

export interface ImageGridOptions extends RenderOptions {
  /** Image side (pixels) [sqrt(dim)]. */
  readonly side?: number;
  /** Images per row of a panel [8]; rows as needed. */
  readonly columns?: number;
  /** Images drawn per panel (the first ones) [columns^2]. */
  readonly count?: number;
  /** Screen pixels per image pixel [4]. */
  readonly pixel?: number;
  /** Values mapped to white and to black [[-1, 1]]; values outside are clipped. */
  readonly range?: readonly [number, number];
  /** A title over the whole figure. */
  readonly title?: string;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** The SVG of panels of image grids, left to right. */
export function imageGridSvg(panels: readonly ImagePanel[], opts: ImageGridOptions = {}): string {
  if (panels.length === 0) throw new RangeError('imageGrid: no panels');
  const dim = panels[0].images.dim;
  const side = opts.side ?? Math.round(Math.sqrt(dim));
  if (side * side !== dim) throw new RangeError(`imageGrid: rows of ${dim} values are not ${side}x${side} images`);
  for (const p of panels) if (p.images.dim !== dim) throw new RangeError(`imageGrid: panel '${p.title}' has rows of ${p.images.dim} values, expected ${dim}`);
  const cols = opts.columns ?? 8;
  const count = opts.count ?? cols * cols;
  const px = opts.pixel ?? 4;
  const [lo, hi] = opts.range ?? [-1, 1];
  if (!(hi > lo)) throw new RangeError(`imageGrid: range must have lo < hi, got [${lo}, ${hi}]`);
  const gap = px; // between images
  const cell = side * px + gap;
  const rows = Math.ceil(count / cols);
  const panelW = cols * cell + gap;
  const panelH = rows * cell + gap;
  const margin = 12;
  const titleH = 22;
  const topH = opts.title ? 26 : 0;
  const W = margin + panels.length * (panelW + margin);
  const H = topH + titleH + panelH + margin;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">`,
    `<rect x="0" y="0" width="${W}" height="${H}" fill="white"/>`,
  ];
  if (opts.title) parts.push(`<text x="${margin}" y="18" font-family="DejaVu Sans" font-size="14" font-weight="bold">${esc(opts.title)}</text>`);
  panels.forEach((p, k) => {
    const x0 = margin + k * (panelW + margin);
    const y0 = topH + titleH;
    parts.push(`<text x="${x0}" y="${topH + 16}" font-family="DejaVu Sans" font-size="13">${esc(p.title)}</text>`);
    parts.push(`<rect x="${x0}" y="${y0}" width="${panelW}" height="${panelH}" fill="white" stroke="#888" stroke-width="1"/>`);
    const n = Math.min(count, p.images.n);
    for (let i = 0; i < n; i++) {
      const ix = x0 + gap + (i % cols) * cell;
      const iy = y0 + gap + Math.floor(i / cols) * cell;
      for (let r = 0; r < side; r++) {
        for (let c = 0; c < side; c++) {
          const v = p.images.data[i * dim + r * side + c];
          const u = Number.isFinite(v) ? Math.min(1, Math.max(0, (v - lo) / (hi - lo))) : 1;
          const g = Math.round(255 * (1 - u)); // ink dark on white paper
          if (g >= 250) continue;
          parts.push(`<rect x="${ix + c * px}" y="${iy + r * px}" width="${px}" height="${px}" fill="rgb(${g},${g},${g})"/>`);
        }
      }
    }
  });
  parts.push('</svg>');
  return parts.join('');
}

/** Write `imageGridSvg` to `path` (.svg, or .png through resvg), atomically. */
export function imageGridPlot(path: string, panels: readonly ImagePanel[], opts: ImageGridOptions = {}): void {
  const svg = imageGridSvg(panels, opts);
  writeFileAtomic(path, plotFormat(path) === 'svg' ? svg : svgToPng(svg, { scale: opts.scale ?? 1, ...(opts.fontFamily ? { fontFamily: opts.fontFamily } : {}) }));
}
