/**
 * The shared core of every plot: a vega-lite spec in, a file out. `.svg` writes the SVG that
 * vega renders headless (`view.toSVG()`, no canvas: text widths are estimated); `.png` rasterises
 * that SVG with resvg using the system fonts (DejaVu Sans by default).
 */
import { extname } from 'node:path';
import { createRequire } from 'node:module';
import type { TopLevelSpec } from 'vega-lite';
import { writeFileAtomic } from '../io/atomic.js';
import { InputError } from '../io/errors.js';

export type { TopLevelSpec };

export interface RenderOptions {
  /** Pixel density of PNG output relative to the SVG's size [2]. */
  readonly scale?: number;
  /** Font used for PNG text when the SVG's family is not installed ['DejaVu Sans']. */
  readonly fontFamily?: string;
}

/** Output format from a path's extension, or an InputError naming the supported ones. */
export function plotFormat(path: string): 'svg' | 'png' {
  const ext = extname(path).toLowerCase();
  if (ext === '.svg') return 'svg';
  if (ext === '.png') return 'png';
  throw new InputError(`${path}: unsupported plot format '${ext || '(no extension)'}'; use .svg or .png`);
}

/** Render a vega-lite spec to an SVG string (headless, no canvas). */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  // Loaded on first use: vega and vega-lite take ~0.7 s to import, which every CLI command
  // (even --help) would otherwise pay.
  const [vega, { compile }] = await Promise.all([import('vega'), import('vega-lite')]);
  const vgSpec = compile(spec).spec;
  const view = new vega.View(vega.parse(vgSpec), { renderer: 'none' });
  try {
    return compactSvg(await view.toSVG());
  } finally {
    view.finalize();
  }
}

/**
 * Round pixel coordinates inside `transform` and `d` attributes to 2 decimals (vega writes ~15
 * digits): a third smaller scatter SVG, no visible change. Text content is left alone.
 */
function compactSvg(svg: string): string {
  return svg.replace(/ (transform|d)="([^"]*)"/g, (_m, attr: string, value: string) => {
    const v = value.replace(/-?\d+\.\d{3,}/g, (num) => {
      const r = Math.round(Number(num) * 100) / 100;
      return Object.is(r, -0) ? '0' : String(r);
    });
    return ` ${attr}="${v}"`;
  });
}

/** Rasterise an SVG string to PNG bytes. */
export function svgToPng(svg: string, opts: RenderOptions = {}): Uint8Array {
  // A native add-on, required on first use like vega above.
  const { Resvg } = createRequire(import.meta.url)('@resvg/resvg-js') as typeof import('@resvg/resvg-js');
  const resvg = new Resvg(svg, {
    font: { loadSystemFonts: true, defaultFontFamily: opts.fontFamily ?? 'DejaVu Sans' },
    fitTo: { mode: 'zoom', value: opts.scale ?? 2 },
    background: 'white',
  });
  return resvg.render().asPng();
}

/** Render `spec` and write it to `path` (.svg or .png, atomically). */
export async function writePlot(path: string, spec: TopLevelSpec, opts: RenderOptions = {}): Promise<void> {
  const format = plotFormat(path);
  const svg = await renderSvg(spec);
  writeFileAtomic(path, format === 'svg' ? svg : svgToPng(svg, opts));
}

/** Defaults shared by the charts: white background, room for legend text (widths are estimated). */
export const BASE_CONFIG = {
  background: 'white',
  padding: { left: 8, top: 8, right: 24, bottom: 8 },
  config: { font: 'DejaVu Sans', view: { stroke: '#888' }, aria: false },
} as const;
