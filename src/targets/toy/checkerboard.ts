/**
 * `checkerboard` (FFJORD toy data): uniform on the 8 dark squares of a 4 x 4 board on
 * `[-4, 4]^2`. Reference construction: `x1 ~ U[-2, 2)`, `x2 = U[0, 1) - 2 B + (floor(x1) mod 2)`
 * with `B ~ Bernoulli(1/2)` (so `x2` lies in `[-2, 2)` on the squares whose parity matches
 * `floor(x1)`), then both times 2. `mod` is the non-negative (Python) remainder.
 */
import { makeBatch, type Batch } from '../../core/batch.js';
import { split, uniform, type Key } from '../../core/key.js';
import { checkCount, type DatasetSampler } from '../dataset.js';

export function checkerboard(): DatasetSampler {
  return {
    name: 'checkerboard',
    dim: 2,
    sample(key: Key, n: number): Batch {
      checkCount('checkerboard', n);
      const [k1, k2, kb] = split(key, 3);
      const u1 = uniform(k1, n);
      const u2 = uniform(k2, n);
      const ub = uniform(kb, n);
      const out = makeBatch(n, 2);
      for (let i = 0; i < n; i++) {
        const x1 = 4 * u1[i] - 2;
        const parity = ((Math.floor(x1) % 2) + 2) % 2;
        const x2 = u2[i] - (ub[i] < 0.5 ? 2 : 0) + parity;
        out.data[2 * i] = 2 * x1;
        out.data[2 * i + 1] = 2 * x2;
      }
      return out;
    },
  };
}
