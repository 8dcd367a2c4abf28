import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fromRows } from '../../src/core/batch.js';
import { foldIn, keyFromSeed } from '../../src/core/key.js';
import { loadDigits, parseDigitsCsv } from '../../src/io/digits.js';
import { InputError } from '../../src/io/errors.js';
import { writeNpy } from '../../src/io/npy.js';
import { resolveTrainingData } from '../../src/io/training-data.js';

const dir = mkdtempSync(join(tmpdir(), 'tweedie-data-'));

describe('digits', () => {
  it('loads the bundled 1,797 images scaled to [-1, 1] with labels 0..9', () => {
    const { images, labels } = loadDigits();
    expect([images.n, images.dim]).toEqual([1797, 64]);
    expect(Math.min(...images.data)).toBe(-1);
    expect(Math.max(...images.data)).toBe(1);
    const counts = new Array(10).fill(0);
    labels.forEach((l) => counts[l]++);
    expect(counts.every((c) => c >= 170 && c <= 190)).toBe(true); // UCI digits: ~180 per class
    // First row of the UCI file: 0,0,5,13,9,1,0,0,... label 0.
    expect(Array.from(images.data.subarray(0, 4))).toEqual([-1, -1, 5 / 8 - 1, 13 / 8 - 1]);
    expect(labels[0]).toBe(0);
  });
  it('rejects malformed rows with the line and column', () => {
    const row = Array(64).fill('3').join(',');
    expect(() => parseDigitsCsv(`${row},1\n${row}\n`, 'x.csv')).toThrow(/x\.csv: line 2 has 64 columns/);
    expect(() => parseDigitsCsv(`${row.replace(/^3/, '17')},1\n`, 'x.csv')).toThrow(/line 1, column 1: '17'/);
    expect(() => parseDigitsCsv(`${row},nan\n`, 'x.csv')).toThrow(InputError);
  });
});

describe('training data', () => {
  it('built-in: fresh exact samples, a pure function of the key', () => {
    const d = resolveTrainingData('8gaussians');
    expect(d.kind).toBe('builtin');
    expect(d.dim).toBe(2);
    const k = foldIn(keyFromSeed(0), 3);
    expect(d.batch(k, 16)).toEqual(d.batch(k, 16));
    expect(d.batch(k, 16)).not.toEqual(d.batch(foldIn(keyFromSeed(0), 4), 16));
  });
  it('file: minibatches are rows of the file; references are distinct rows', () => {
    const path = join(dir, 'd.npy');
    const rows = Array.from({ length: 50 }, (_, i) => [i, -i, 2 * i]);
    writeNpy(path, fromRows(rows));
    const d = resolveTrainingData(path);
    expect([d.kind, d.dim, d.size]).toEqual(['file', 3, 50]);
    const b = d.batch(keyFromSeed(1), 40);
    for (let i = 0; i < b.n; i++) {
      const r = b.data[i * 3];
      expect(Number.isInteger(r) && r >= 0 && r < 50).toBe(true);
      expect(b.data[i * 3 + 1]).toBe(-r);
    }
    const ref = d.reference(keyFromSeed(2), 30);
    expect(new Set(Array.from({ length: 30 }, (_, i) => ref.data[i * 3])).size).toBe(30);
  });
  it('digits: 64-D, normalisation recorded', () => {
    const d = resolveTrainingData('digits');
    expect([d.dim, d.size]).toEqual([64, 1797]);
    expect(d.normalisation).toEqual({ scale: 8, shift: 8 });
  });
  it('rejects unknown data, NaN rows and tiny files with InputError', () => {
    expect(() => resolveTrainingData('nonesuch')).toThrow(/unknown data 'nonesuch'.*2spirals/);
    const nan = join(dir, 'nan.npy');
    writeNpy(nan, fromRows([[0, 1], [NaN, 2]]));
    expect(() => resolveTrainingData(nan)).toThrow(/nan\.npy.*row 1/);
    const one = join(dir, 'one.npy');
    writeNpy(one, fromRows([[0, 1]]));
    expect(() => resolveTrainingData(one)).toThrow(/at least 2 rows/);
    const empty = join(dir, 'empty.npy');
    writeFileSync(empty, '');
    expect(() => resolveTrainingData(empty)).toThrow(InputError);
  });
});
