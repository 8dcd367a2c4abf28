/**
 * `circles` (FFJORD toy data): scikit-learn's `make_circles(n, factor=0.5, noise=0.08)`, then
 * multiplied by 3. As in scikit-learn, `floor(n/2)` points lie on the unit circle and the rest
 * on the circle of radius `factor`, at evenly spaced angles (`linspace(0, 2 pi, m,
 * endpoint=False)`), each coordinate then gets N(0, 0.08^2) noise; the rows are shuffled. So
 * the radii are about 3 and 1.5, with noise std 0.24 after scaling.
 *
 * Option `randomAngles`: draw each angle uniformly instead (i.i.d. rows, which the evenly
 * spaced scikit-learn version is not; two such sets differ more, so their JSD floor is higher).
 */
import { makeBatch, type Batch } from '../../core/batch.js';
import { normal, split, uniform, type Key } from '../../core/key.js';
import { checkCount, permuteRows, type DatasetSampler } from '../dataset.js';

export interface CirclesOptions {
  readonly factor?: number;
  readonly noise?: number;
  readonly scale?: number;
  readonly randomAngles?: boolean;
}

export function circles(opts: CirclesOptions = {}): DatasetSampler {
  const factor = opts.factor ?? 0.5;
  const noise = opts.noise ?? 0.08;
  const scale = opts.scale ?? 3;
  const randomAngles = opts.randomAngles ?? false;
  return {
    name: 'circles',
    dim: 2,
    sample(key: Key, n: number): Batch {
      checkCount('circles', n);
      const [ka, kn, kp] = split(key, 3);
      const nOut = Math.floor(n / 2);
      const nIn = n - nOut;
      const u = randomAngles ? uniform(ka, n) : null;
      const z = normal(kn, 2 * n);
      const out = makeBatch(n, 2);
      for (let i = 0; i < n; i++) {
        const inner = i >= nOut;
        const m = inner ? nIn : nOut;
        const idx = inner ? i - nOut : i;
        const angle = u ? 2 * Math.PI * u[i] : (2 * Math.PI * idx) / m;
        const r = inner ? factor : 1;
        out.data[2 * i] = scale * (r * Math.cos(angle) + noise * z[2 * i]);
        out.data[2 * i + 1] = scale * (r * Math.sin(angle) + noise * z[2 * i + 1]);
      }
      return permuteRows(kp, out);
    },
  };
}
