/**
 * Covariance matrices held by their eigendecomposition `S = U diag(lambda) U^T`.
 *
 * Why eigenvectors rather than a Cholesky factor: every diffused marginal of a Gaussian has
 * covariance `alpha^2 S + sigma^2 I = U diag(alpha^2 lambda + sigma^2) U^T` (SPEC §1), with the
 * same eigenvectors for every time. One decomposition at construction therefore gives the
 * inverse, the log-determinant and the square root of every diffused covariance in O(d^2) per
 * point, with no refactorisation when each row has its own time. Positive definiteness is
 * checked on the eigenvalues, which also gives a precise error message.
 *
 * Diagonal covariances (the common case: isotropic GMM-40, 8-Gaussians) keep `vectors = null`,
 * and every product with `U` is skipped.
 */

/** How a caller states a covariance. Scalars mean isotropic; arrays of length `dim` mean diagonal. */
export type CovarianceSpec =
  | { readonly std: number | ArrayLike<number> }
  | { readonly variance: number | ArrayLike<number> }
  /** Full matrix: nested rows or a flat row-major array of `dim * dim` values; must be symmetric PD. */
  | { readonly cov: ArrayLike<ArrayLike<number>> | ArrayLike<number> };

/** Eigendecomposition of a symmetric positive definite matrix by cyclic Jacobi rotations. */
export function symmetricEigen(matrix: ArrayLike<number>, n: number): { values: Float64Array; vectors: Float64Array } {
  // Golub & Van Loan, Matrix Computations (4th ed.), Alg. 8.5.3 (cyclic Jacobi). Each rotation
  // P zeroes a_pq in A' = P^T A P; V accumulates the product of the rotations, so that on exit
  // A = V diag(a_ii) V^T with the eigenvectors in the columns of V (row-major, V[i*n+j]).
  const a = Float64Array.from(matrix as ArrayLike<number>);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  let total = 0;
  for (let i = 0; i < n * n; i++) total += a[i] * a[i];
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q] * a[p * n + q];
    if (off <= 1e-32 * total || off === 0) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (apq === 0) continue;
        // theta = cot(2 phi); t = tan(phi), the smaller root for stability.
        const theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        const t = (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          // Columns p, q of A P.
          const akp = a[k * n + p];
          const akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          // Rows p, q of P^T (A P).
          const apk = a[p * n + k];
          const aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        a[p * n + q] = 0;
        a[q * n + p] = 0;
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p];
          const vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = a[i * n + i];
  return { values, vectors: v };
}

function toVector(x: number | ArrayLike<number>, dim: number, what: string): Float64Array {
  const out = new Float64Array(dim);
  if (typeof x === 'number') out.fill(x);
  else {
    if (x.length !== dim) throw new RangeError(`${what}: expected ${dim} values, got ${x.length}`);
    for (let i = 0; i < dim; i++) out[i] = x[i];
  }
  return out;
}

function flattenMatrix(m: ArrayLike<ArrayLike<number>> | ArrayLike<number>, dim: number, what: string): Float64Array {
  const out = new Float64Array(dim * dim);
  if (m.length === dim * dim && typeof m[0] === 'number') {
    for (let i = 0; i < dim * dim; i++) out[i] = m[i] as number;
    return out;
  }
  if (m.length !== dim) throw new RangeError(`${what}: covariance must be ${dim} x ${dim}, got ${m.length} rows`);
  for (let i = 0; i < dim; i++) {
    const r = m[i] as ArrayLike<number>;
    if (typeof r === 'number' || r.length !== dim) {
      throw new RangeError(`${what}: covariance row ${i} must have ${dim} values`);
    }
    for (let j = 0; j < dim; j++) out[i * dim + j] = r[j];
  }
  return out;
}

/** A symmetric positive definite covariance `S = U diag(values) U^T`; immutable. */
export class EigenCovariance {
  /**
   * @param values eigenvalues (all > 0)
   * @param vectors row-major `dim x dim`, eigenvector j in column j; `null` means the identity
   */
  constructor(
    readonly dim: number,
    readonly values: Float64Array,
    readonly vectors: Float64Array | null,
  ) {}

  /** Parse and validate a user covariance. `what` names the owner in error messages. */
  static fromSpec(spec: CovarianceSpec | EigenCovariance, dim: number, what = 'EigenCovariance'): EigenCovariance {
    if (spec instanceof EigenCovariance) {
      if (spec.dim !== dim) throw new RangeError(`${what}: covariance has dimension ${spec.dim}, expected ${dim}`);
      return spec;
    }
    let values: Float64Array;
    if ('std' in spec) {
      const s = toVector(spec.std, dim, `${what} std`);
      for (let i = 0; i < dim; i++) {
        if (!(s[i] > 0) || !Number.isFinite(s[i])) throw new RangeError(`${what}: std must be positive and finite, got ${s[i]}`);
      }
      values = s.map((x) => x * x);
    } else if ('variance' in spec) {
      values = toVector(spec.variance, dim, `${what} variance`);
    } else if ('cov' in spec) {
      const m = flattenMatrix(spec.cov, dim, what);
      let maxAbs = 0;
      for (let i = 0; i < m.length; i++) {
        if (!Number.isFinite(m[i])) throw new RangeError(`${what}: covariance holds a non-finite value`);
        maxAbs = Math.max(maxAbs, Math.abs(m[i]));
      }
      for (let i = 0; i < dim; i++) {
        for (let j = i + 1; j < dim; j++) {
          const d = Math.abs(m[i * dim + j] - m[j * dim + i]);
          if (d > 1e-10 * maxAbs) {
            throw new RangeError(`${what}: covariance is not symmetric (entries (${i},${j}) and (${j},${i}) differ by ${d})`);
          }
          const avg = 0.5 * (m[i * dim + j] + m[j * dim + i]);
          m[i * dim + j] = avg;
          m[j * dim + i] = avg;
        }
      }
      let diagonal = true;
      for (let i = 0; i < dim && diagonal; i++) for (let j = 0; j < dim; j++) if (i !== j && m[i * dim + j] !== 0) diagonal = false;
      if (diagonal) {
        values = new Float64Array(dim);
        for (let i = 0; i < dim; i++) values[i] = m[i * dim + i];
      } else {
        const e = symmetricEigen(m, dim);
        EigenCovariance.checkPositive(e.values, what);
        return new EigenCovariance(dim, e.values, e.vectors);
      }
    } else {
      throw new TypeError(`${what}: give one of {std}, {variance} or {cov}`);
    }
    EigenCovariance.checkPositive(values, what);
    return new EigenCovariance(dim, values, null);
  }

  private static checkPositive(values: Float64Array, what: string): void {
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of values) {
      if (!Number.isFinite(v)) throw new RangeError(`${what}: covariance has a non-finite eigenvalue ${v}`);
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    // An eigenvalue below dim * machine-eps * largest is indistinguishable from zero.
    if (!(lo > 0) || lo <= values.length * 2.220446049250313e-16 * hi) {
      throw new RangeError(
        `${what}: covariance is not positive definite (smallest eigenvalue ${lo.toPrecision(6)}, largest ${hi.toPrecision(6)})`,
      );
    }
  }

  get isDiagonal(): boolean {
    return this.vectors === null;
  }

  /** `log det S`. */
  logDet(): number {
    let s = 0;
    for (const v of this.values) s += Math.log(v);
    return s;
  }

  /** `a2 * S + s2 * I`: the covariance of a diffused component (same eigenvectors). */
  scaledPlusIdentity(a2: number, s2: number): EigenCovariance {
    const values = this.values.map((v) => a2 * v + s2);
    return new EigenCovariance(this.dim, values, this.vectors);
  }

  /** `out = U^T r` (the coordinates of `r` in the eigenbasis); copies when diagonal. */
  toEigenbasis(r: ArrayLike<number>, rOff: number, out: Float64Array): void {
    const d = this.dim;
    const u = this.vectors;
    if (u === null) {
      for (let j = 0; j < d; j++) out[j] = r[rOff + j];
      return;
    }
    for (let j = 0; j < d; j++) {
      let s = 0;
      for (let i = 0; i < d; i++) s += u[i * d + j] * r[rOff + i];
      out[j] = s;
    }
  }

  /** `out[outOff..] = U y`. */
  fromEigenbasis(y: ArrayLike<number>, out: Float64Array, outOff: number): void {
    const d = this.dim;
    const u = this.vectors;
    if (u === null) {
      for (let j = 0; j < d; j++) out[outOff + j] = y[j];
      return;
    }
    for (let i = 0; i < d; i++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += u[i * d + j] * y[j];
      out[outOff + i] = s;
    }
  }

  /** `S v` as a new array. */
  apply(v: ArrayLike<number>): Float64Array {
    const y = new Float64Array(this.dim);
    this.toEigenbasis(v, 0, y);
    for (let j = 0; j < this.dim; j++) y[j] *= this.values[j];
    const out = new Float64Array(this.dim);
    this.fromEigenbasis(y, out, 0);
    return out;
  }

  /** `v^T S v`. */
  quadratic(v: ArrayLike<number>): number {
    const y = new Float64Array(this.dim);
    this.toEigenbasis(v, 0, y);
    let s = 0;
    for (let j = 0; j < this.dim; j++) s += this.values[j] * y[j] * y[j];
    return s;
  }

  /** The dense matrix `S`, row-major. */
  matrix(): Float64Array {
    const d = this.dim;
    const m = new Float64Array(d * d);
    const u = this.vectors;
    for (let i = 0; i < d; i++) {
      for (let k = 0; k < d; k++) {
        if (u === null) {
          if (i === k) m[i * d + k] = this.values[i];
          continue;
        }
        let s = 0;
        for (let j = 0; j < d; j++) s += u[i * d + j] * this.values[j] * u[k * d + j];
        m[i * d + k] = s;
      }
    }
    return m;
  }
}
