/**
 * Sliced Wasserstein distance (Rabin et al. 2011; Bonneel et al. 2015):
 * `SW_p(P, Q)^p = E_{theta ~ U(S^{d-1})} W_p^p(theta#P, theta#Q)`, estimated with `projections`
 * random unit directions (normalised standard normal vectors, which are uniform on the sphere).
 * Each 1-D term is exact (`wasserstein1d`), so sizes may differ. Deterministic given the key.
 */
import type { Batch } from '../core/batch.js';
import { normalBatch, type Key } from '../core/key.js';
import { wassersteinPow1dSorted } from './wasserstein1d.js';
import { checkPair } from './validate.js';

export interface SlicedOptions {
  /** Number of random directions (default 128). */
  projections?: number;
  /** Order p >= 1 (default 2). */
  p?: number;
}

/** Projections `X theta` of every row of `b` onto the unit vector `theta` (sorted). */
function projectSorted(b: Batch, theta: Float64Array): Float64Array {
  const out = new Float64Array(b.n);
  const d = b.dim;
  const x = b.data;
  for (let i = 0; i < b.n; i++) {
    let s = 0;
    for (let k = 0; k < d; k++) s += x[i * d + k] * theta[k];
    out[i] = s;
  }
  return out.sort();
}

/**
 * Monte-Carlo sliced `W_p` between two point sets of the same dimension.
 *
 * @example slicedWasserstein(keyFromSeed(0), a, b, { projections: 128, p: 2 })
 */
export function slicedWasserstein(key: Key, a: Batch, b: Batch, opts: SlicedOptions = {}): number {
  const L = opts.projections ?? 128;
  const p = opts.p ?? 2;
  if (!Number.isInteger(L) || L < 1) throw new RangeError(`slicedWasserstein: projections must be a positive integer, got ${L}`);
  if (!(p >= 1) || !Number.isFinite(p)) throw new RangeError(`slicedWasserstein: p must be a finite number >= 1, got ${p}`);
  checkPair(a, b, 'slicedWasserstein');
  const dirs = normalBatch(key, L, a.dim);
  const theta = new Float64Array(a.dim);
  let acc = 0;
  for (let l = 0; l < L; l++) {
    let nrm = 0;
    for (let k = 0; k < a.dim; k++) {
      theta[k] = dirs.data[l * a.dim + k];
      nrm += theta[k] * theta[k];
    }
    nrm = Math.sqrt(nrm); // > 0 with probability 1 (Box–Muller uniforms lie strictly inside (0, 1))
    for (let k = 0; k < a.dim; k++) theta[k] /= nrm;
    acc += wassersteinPow1dSorted(projectSorted(a, theta), projectSorted(b, theta), p);
  }
  return Math.pow(acc / L, 1 / p);
}
