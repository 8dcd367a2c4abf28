/**
 * `moons` (FFJORD toy data): scikit-learn's `make_moons(n, noise=0.1)`, then `x * 2 + [-1, -0.2]`.
 * scikit-learn puts `floor(n/2)` points on the upper half circle `(cos s, sin s)` and the rest on
 * the shifted lower one `(1 - cos s, 1 - sin s - 0.5)`, with `s` evenly spaced on `[0, pi]`
 * (`linspace`, endpoints included), adds N(0, noise^2) per coordinate and shuffles.
 */
import { makeBatch, type Batch } from '../../core/batch.js';
import { normal, split, type Key } from '../../core/key.js';
import { checkCount, permuteRows, type DatasetSampler } from '../dataset.js';

export function moons(opts: { readonly noise?: number } = {}): DatasetSampler {
  const noise = opts.noise ?? 0.1;
  return {
    name: 'moons',
    dim: 2,
    sample(key: Key, n: number): Batch {
      checkCount('moons', n);
      const [kn, kp] = split(key, 2);
      const nOut = Math.floor(n / 2);
      const nIn = n - nOut;
      const z = normal(kn, 2 * n);
      const out = makeBatch(n, 2);
      for (let i = 0; i < n; i++) {
        const lower = i >= nOut;
        const m = lower ? nIn : nOut;
        const idx = lower ? i - nOut : i;
        // linspace(0, pi, m) with both endpoints (a single point sits at 0).
        const s = m > 1 ? (Math.PI * idx) / (m - 1) : 0;
        const x = lower ? 1 - Math.cos(s) : Math.cos(s);
        const y = lower ? 1 - Math.sin(s) - 0.5 : Math.sin(s);
        out.data[2 * i] = 2 * (x + noise * z[2 * i]) - 1;
        out.data[2 * i + 1] = 2 * (y + noise * z[2 * i + 1]) - 0.2;
      }
      return permuteRows(kp, out);
    },
  };
}
