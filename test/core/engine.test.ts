import { beforeAll, describe, expect, it } from 'vitest';
import { makeBatch, type Batch } from '../../src/core/batch.js';
import { initEngine, engineReady, np, rowValues, valueAndGrad, type EngineDType } from '../../src/core/engine.js';
import { keyFromSeed, normalBatch } from '../../src/core/key.js';

beforeAll(async () => {
  await initEngine();
  await initEngine(); // idempotent
});

/** Tolerances for functions of arithmetic and sqrt only. */
const TOL: Record<EngineDType, number> = { float32: 2e-5, float64: 1e-12 };
/**
 * With transcendental functions: jax-js 0.1.25 evaluates sin/cos/exp/log in float32 even for
 * float64 arrays, so float64 is only float32-accurate there (documented in engine.ts).
 */
const TOL_TRANSC: Record<EngineDType, number> = { float32: 2e-5, float64: 2e-5 };

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, rel: number): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    if (!(err <= rel * (1 + Math.abs(want[i])))) {
      throw new Error(`index ${i}: got ${got[i]}, want ${want[i]} (err ${err}, tol ${rel})`);
    }
  }
}

/** Per-row analytic value and gradient. */
function analytic(x: Batch, fv: (r: Float64Array) => number, fg: (r: Float64Array) => number[]) {
  const value = new Float64Array(x.n);
  const grad = new Float64Array(x.n * x.dim);
  for (let i = 0; i < x.n; i++) {
    const r = x.data.subarray(i * x.dim, (i + 1) * x.dim);
    value[i] = fv(r);
    grad.set(fg(r), i * x.dim);
  }
  return { value, grad };
}

const A = [0.5, -1.0, 0.25];

describe('engine', () => {
  it('is ready after initEngine', () => {
    expect(engineReady()).toBe(true);
  });

  for (const dtype of ['float32', 'float64'] as const) {
    describe(dtype, () => {
      const x = normalBatch(keyFromSeed(0), 257, 3);

      it('sum of squares: value and gradient 2x', () => {
        const vg = valueAndGrad((z) => np.sum(np.square(z), -1), { dtype });
        const out = vg(x);
        const want = analytic(x, (r) => r.reduce((s, v) => s + v * v, 0), (r) => Array.from(r, (v) => 2 * v));
        expectClose(out.value, want.value, TOL[dtype]);
        expectClose(out.grad.data, want.grad, TOL[dtype]);
        expect(out.grad.n).toBe(x.n);
        expect(out.grad.dim).toBe(x.dim);
        expect(out.value).toBeInstanceOf(Float64Array);
      });

      it('log-sum-exp of a.x over two affine terms (reuses x and a captured constant)', () => {
        // f(x) = log(exp(a.x) + exp(-a.x)), grad = tanh(a.x) a
        const a = np.array(A, { dtype: dtype === 'float32' ? np.float32 : np.float64 });
        const vg = valueAndGrad((z) => {
          const s = np.sum(np.multiply(z, a), -1);
          return np.log(np.add(np.exp(s), np.exp(np.negative(s))));
        }, { dtype });
        const want = analytic(
          x,
          (r) => {
            const s = r.reduce((acc, v, j) => acc + v * A[j], 0);
            return Math.log(Math.exp(s) + Math.exp(-s));
          },
          (r) => {
            const s = r.reduce((acc, v, j) => acc + v * A[j], 0);
            return A.map((aj) => Math.tanh(s) * aj);
          },
        );
        for (let rep = 0; rep < 3; rep++) {
          const out = vg(x);
          expectClose(out.value, want.value, TOL_TRANSC[dtype]);
          expectClose(out.grad.data, want.grad, TOL_TRANSC[dtype]);
        }
        expect(a.refCount).toBeGreaterThanOrEqual(1); // still owned by us, not consumed
      });

      it('sum(sin(x) * x): gradient cos(x) x + sin(x)', () => {
        const vg = valueAndGrad((z) => np.sum(np.multiply(np.sin(z), z), -1), { dtype });
        const out = vg(x);
        const want = analytic(
          x,
          (r) => r.reduce((s, v) => s + Math.sin(v) * v, 0),
          (r) => Array.from(r, (v) => Math.cos(v) * v + Math.sin(v)),
        );
        expectClose(out.value, want.value, TOL_TRANSC[dtype]);
        expectClose(out.grad.data, want.grad, TOL_TRANSC[dtype]);
      });

      it('rowValues matches valueAndGrad values and handles several batch sizes', () => {
        const f = (z: ReturnType<typeof np.array>) => np.sum(np.multiply(np.sin(z), z), -1);
        const v = rowValues(f, { dtype });
        const vg = valueAndGrad(f, { dtype });
        for (const n of [1, 5, 64]) {
          const xb = normalBatch(keyFromSeed(n), n, 3);
          expectClose(v(xb), vg(xb).value, TOL_TRANSC[dtype]);
        }
      });
    });
  }

  it('float64 agrees with finite differences of the float64 value (arithmetic and sqrt only)', () => {
    // f(x) = sqrt(1 + |x|^2) / (2 + x_0): no transcendental functions, so float64 is exact.
    const f = (z: ReturnType<typeof np.array>) =>
      np.divide(np.sqrt(np.add(np.sum(np.square(z), -1), 1)), np.add(np.sum(np.multiply(z, np.array([1, 0], { dtype: np.float64 })), -1), 3));
    const vg = valueAndGrad(f, { dtype: 'float64' });
    const v = rowValues(f, { dtype: 'float64' });
    const x = normalBatch(keyFromSeed(7), 4, 2);
    const g = vg(x).grad.data;
    const h = 1e-6;
    for (let k = 0; k < x.data.length; k++) {
      const xp = makeBatch(x.n, x.dim, x.data.slice());
      const xm = makeBatch(x.n, x.dim, x.data.slice());
      xp.data[k] += h;
      xm.data[k] -= h;
      const row = Math.floor(k / x.dim);
      const fd = (v(xp)[row] - v(xm)[row]) / (2 * h);
      expect(Math.abs(fd - g[k])).toBeLessThan(1e-7);
    }
  });

  it('empty batch gives empty results without calling the engine', () => {
    const vg = valueAndGrad(() => {
      throw new Error('should not be called');
    });
    const out = vg(makeBatch(0, 2));
    expect(out.value.length).toBe(0);
    expect(out.grad.dim).toBe(2);
  });

  it('rejects a batch of the wrong dimension with a clear error', () => {
    const vg = valueAndGrad((z) => np.sum(z, -1), { dim: 2, name: 'log l' });
    expect(() => vg(makeBatch(3, 3))).toThrow(/log l: expects points of dimension 2, got a batch of dimension 3/);
  });

  it('rejects a malformed batch', () => {
    const vg = valueAndGrad((z) => np.sum(z, -1));
    expect(() => vg({ n: 3, dim: 2, data: new Float64Array(5) })).toThrow(/5 values but n\*dim = 3\*2 = 6/);
  });

  it('rejects a function that does not return per-row values', () => {
    const vg = valueAndGrad((z) => np.sum(z), { name: 'log l' }); // forgot the axis
    expect(() => vg(makeBatch(3, 2))).toThrow(/log l must map an \[n, dim\] = \[3, 2\] array to per-row values of shape \[3\].*returned shape \[\]/);
    const vg2 = valueAndGrad((z) => np.square(z));
    expect(() => vg2(makeBatch(3, 2))).toThrow(/returned shape \[3, 2\]/);
  });
});
