/**
 * `pinwheel` (FFJORD toy data, after Johnson et al. 2016): 5 arms. A point of arm `c` starts at
 * `f = (1 + 0.3 z1, 0.1 z2)` (radial std 0.3, tangential std 0.1) and is rotated by the angle
 * `2 pi c / 5 + 0.25 exp(f1)` (rate 0.25: the arm curls as the radius grows); everything is
 * then multiplied by 2. Row-vector convention of the reference: `out = f R` with
 * `R = [[cos, -sin], [sin, cos]]`, i.e. `(f1 cos + f2 sin, -f1 sin + f2 cos)`.
 * The reference draws `n // 5` points per arm; here arm `i mod 5` for row i (so exactly n rows,
 * counts differing by at most one), then the rows are shuffled.
 */
import { makeBatch, type Batch } from '../../core/batch.js';
import { normal, split, type Key } from '../../core/key.js';
import { checkCount, permuteRows, type DatasetSampler } from '../dataset.js';

export function pinwheel(): DatasetSampler {
  const arms = 5;
  const radialStd = 0.3;
  const tangentialStd = 0.1;
  const rate = 0.25;
  return {
    name: 'pinwheel',
    dim: 2,
    sample(key: Key, n: number): Batch {
      checkCount('pinwheel', n);
      const [kn, kp] = split(key, 2);
      const z = normal(kn, 2 * n);
      const out = makeBatch(n, 2);
      for (let i = 0; i < n; i++) {
        const f1 = 1 + radialStd * z[2 * i];
        const f2 = tangentialStd * z[2 * i + 1];
        const angle = (2 * Math.PI * (i % arms)) / arms + rate * Math.exp(f1);
        const c = Math.cos(angle);
        const s = Math.sin(angle);
        out.data[2 * i] = 2 * (f1 * c + f2 * s);
        out.data[2 * i + 1] = 2 * (-f1 * s + f2 * c);
      }
      return permuteRows(kp, out);
    },
  };
}
