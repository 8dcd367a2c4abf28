/**
 * `2spirals` (FFJORD toy data; SPEC §2): `s = sqrt(U) * 540 * 2 pi / 360` (up to 1.5 turns,
 * `sqrt` makes the density along the arm uniform in arc area), `d1 = (-cos(s) s + 0.5 U',
 * sin(s) s + 0.5 U'')`; the data are `d1` stacked with `-d1` (the second spiral is the point
 * reflection of the same draws), divided by 3, plus `0.1 N(0, I)`.
 * For exactly n rows: `ceil(n/2)` base draws, the reflected half reuses the first `floor(n/2)`;
 * rows are then shuffled (the reference returns them in order; shuffling keeps any prefix of
 * the batch an unbiased sample despite the reflection pairing).
 */
import { makeBatch, type Batch } from '../../core/batch.js';
import { normal, split, uniform, type Key } from '../../core/key.js';
import { checkCount, permuteRows, type DatasetSampler } from '../dataset.js';

export function twoSpirals(): DatasetSampler {
  return {
    name: '2spirals',
    dim: 2,
    sample(key: Key, n: number): Batch {
      checkCount('2spirals', n);
      const [ks, kx, ky, kn, kp] = split(key, 5);
      const m = Math.ceil(n / 2);
      const us = uniform(ks, m);
      const ux = uniform(kx, m);
      const uy = uniform(ky, m);
      const z = normal(kn, 2 * n);
      const out = makeBatch(n, 2);
      for (let i = 0; i < n; i++) {
        const b = i < m ? i : i - m;
        const sign = i < m ? 1 : -1;
        const s = Math.sqrt(us[b]) * ((540 * 2 * Math.PI) / 360);
        const dx = -Math.cos(s) * s + 0.5 * ux[b];
        const dy = Math.sin(s) * s + 0.5 * uy[b];
        out.data[2 * i] = (sign * dx) / 3 + 0.1 * z[2 * i];
        out.data[2 * i + 1] = (sign * dy) / 3 + 0.1 * z[2 * i + 1];
      }
      return permuteRows(kp, out);
    },
  };
}
