/** Image grids (the digits experiments' sample panels): SVG structure and a PNG written through resvg. */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { imageGridPlot, imageGridSvg } from '../../src/plot/image-grid.js';

describe('image grid', () => {
  const img = new Float64Array(2 * 4).fill(-1);
  img[0] = 1; // image 0: one black pixel
  img[4 + 3] = 0; // image 1: one mid-grey pixel
  const panel = { title: 'p <samples>', images: { n: 2, dim: 4, data: img } };

  it('draws one rect per non-white pixel, greys by value, escapes titles', () => {
    const svg = imageGridSvg([panel, panel], { columns: 2 });
    expect(svg.match(/fill="rgb\(0,0,0\)"/g)?.length).toBe(2);
    expect(svg.match(/fill="rgb\(128,128,128\)"/g)?.length).toBe(2);
    expect(svg).toContain('p &lt;samples&gt;');
    expect(() => imageGridSvg([{ title: 'x', images: { n: 1, dim: 5, data: new Float64Array(5) } }])).toThrow(/not 2x2/);
  });

  it('writes a PNG', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'grid-')), 'g.png');
    imageGridPlot(path, [panel], { columns: 2, title: 'test' });
    const bytes = readFileSync(path);
    expect([...bytes.subarray(1, 4)].map((b) => String.fromCharCode(b)).join('')).toBe('PNG');
  });
});
