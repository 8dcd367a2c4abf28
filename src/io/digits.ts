/**
 * The UCI optical handwritten digits (8x8, pixels 0..16) from the bundled `data/digits.csv.gz`:
 * 64 pixel columns then the label. Images are returned scaled to [-1, 1] (`x / 8 - 1`), the
 * normalisation a score model on them is trained in.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import type { Batch } from '../core/batch.js';
import { InputError } from './errors.js';

/** The bundled file (two levels up from both src/io and dist/io). */
export const DIGITS_PATH = fileURLToPath(new URL('../../data/digits.csv.gz', import.meta.url));

export interface Digits {
  /** n x 64 images scaled to [-1, 1]. */
  readonly images: Batch;
  readonly labels: Int32Array;
}

/** Parse the digits CSV text strictly (65 integer columns, pixels 0..16, labels 0..9). */
export function parseDigitsCsv(text: string, source = 'digits'): Digits {
  const lines = text.split('\n').filter((l) => l.trim().length > 0);
  if (lines.length === 0) throw new InputError(`${source}: no rows`);
  const data = new Float64Array(lines.length * 64);
  const labels = new Int32Array(lines.length);
  lines.forEach((line, i) => {
    const cells = line.split(',');
    if (cells.length !== 65) throw new InputError(`${source}: line ${i + 1} has ${cells.length} columns, expected 65 (64 pixels and a label)`);
    for (let j = 0; j < 65; j++) {
      const v = Number(cells[j]);
      const max = j < 64 ? 16 : 9;
      if (!/^\s*\d+\s*$/.test(cells[j]) || v > max) {
        throw new InputError(`${source}: line ${i + 1}, column ${j + 1}: '${cells[j]}' is not an integer in 0..${max}`);
      }
      if (j < 64) data[i * 64 + j] = v / 8 - 1;
      else labels[i] = v;
    }
  });
  return { images: { n: lines.length, dim: 64, data }, labels };
}

/** Load digits from a `.csv.gz` (default: the bundled copy). */
export function loadDigits(path = DIGITS_PATH): Digits {
  let text: string;
  try {
    text = gunzipSync(readFileSync(path)).toString('utf8');
  } catch (e) {
    throw new InputError(`cannot read digits from ${path}: ${(e as Error).message}`);
  }
  return parseDigitsCsv(text, path);
}
