/**
 * Adam, clipping, learning-rate schedule and EMA, each against hand-computed values.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { arrayF32, initEngine, jitTree, np, readF32, type JaxArray } from '../../src/core/engine.js';
import { adamBiasCorrections, adamLeaf, clipFactor, globalNorm } from '../../src/models/adam.js';
import { emaDecayAt, emaLeaf } from '../../src/models/ema.js';
import { learningRate } from '../../src/models/lr.js';

beforeAll(async () => {
  await initEngine();
});

describe('Adam', () => {
  it('matches a hand-computed 3-step run on a tiny quadratic f(p) = 1/2 sum a (p - c)^2', () => {
    const cfg = { beta1: 0.9, beta2: 0.999, eps: 1e-8 };
    const a = [1, 4, 0.25];
    const c = [0.5, -1, 2];
    const lr = 0.1;
    // Hand computation, float64, straight from Kingma & Ba Algorithm 1 (PyTorch's form).
    let p = [0, 0, 0];
    let m = [0, 0, 0];
    let v = [0, 0, 0];
    const want: number[][] = [];
    for (let t = 1; t <= 3; t++) {
      const g = p.map((pi, i) => a[i] * (pi - c[i]));
      m = m.map((mi, i) => 0.9 * mi + 0.1 * g[i]);
      v = v.map((vi, i) => 0.999 * vi + 0.001 * g[i] * g[i]);
      p = p.map((pi, i) => pi - (lr * (m[i] / (1 - 0.9 ** t))) / (Math.sqrt(v[i] / (1 - 0.999 ** t)) + 1e-8));
      want.push([...p]);
    }
    // Step 1 by hand: m_hat = g, v_hat = g^2, so p1 = p0 - lr * g / (|g| + eps) = lr * sign(c).
    expect(want[0][0]).toBeCloseTo(0.1, 6);
    expect(want[0][1]).toBeCloseTo(-0.1, 6);
    expect(want[0][2]).toBeCloseTo(0.1, 6);

    const A = arrayF32(Float32Array.from(a), [3]);
    const C = arrayF32(Float32Array.from(c), [3]);
    const step = jitTree((P: JaxArray, M: JaxArray, V: JaxArray, h: JaxArray, Aa: JaxArray, Cc: JaxArray) => {
      const g = np.multiply(Aa, np.subtract(P, Cc));
      return adamLeaf(cfg, P, g, M, V, h.ref.slice(0), h.ref.slice(1), h.ref.slice(2));
    });
    let P = arrayF32(new Float32Array(3), [3]);
    let M = arrayF32(new Float32Array(3), [3]);
    let V = arrayF32(new Float32Array(3), [3]);
    for (let t = 1; t <= 3; t++) {
      const { c1, c2 } = adamBiasCorrections(cfg, t);
      [P, M, V] = step(P, M, V, arrayF32(Float32Array.of(lr, c1, c2), [3]), A.ref, C.ref);
      const got = readF32(P.ref);
      for (let i = 0; i < 3; i++) expect(Math.abs(got[i] - want[t - 1][i])).toBeLessThan(2e-6);
    }
  });

  it('bias corrections are 1 / (1 - beta^t)', () => {
    const { c1, c2 } = adamBiasCorrections({ beta1: 0.9, beta2: 0.999, eps: 1e-8 }, 2);
    expect(c1).toBeCloseTo(1 / 0.19, 12);
    expect(c2).toBeCloseTo(1 / (1 - 0.998001), 9);
  });
});

describe('global-norm clipping', () => {
  const run = (leaves: number[][], maxNorm: number): { norm: number; scaled: number[][] } => {
    const f = jitTree((xs: JaxArray[]) => {
      const n = globalNorm(xs);
      const cf = clipFactor(n, maxNorm);
      return [np.add(n, 0), xs.map((x) => np.multiply(x, cf))] as [JaxArray, JaxArray[]];
    });
    const [n, ys] = f(leaves.map((l) => arrayF32(Float32Array.from(l), [l.length])));
    return { norm: readF32(n)[0], scaled: ys.map((y) => Array.from(readF32(y))) };
  };

  it('scales the gradient down to the threshold when above it', () => {
    // |g| = sqrt(9 + 16 + 144) = 13.
    const r = run([[3, 4], [12]], 1);
    expect(r.norm).toBeCloseTo(13, 5);
    expect(r.scaled[0][0]).toBeCloseTo(3 / 13, 6);
    expect(r.scaled[0][1]).toBeCloseTo(4 / 13, 6);
    expect(r.scaled[1][0]).toBeCloseTo(12 / 13, 6);
  });

  it('leaves it unchanged below the threshold, and when disabled', () => {
    expect(run([[3, 4], [12]], 20).scaled).toEqual([[3, 4], [12]]);
    expect(run([[3, 4], [12]], Infinity).scaled).toEqual([[3, 4], [12]]);
    expect(run([[0, 0]], 1).scaled).toEqual([[0, 0]]);
  });
});

describe('learning-rate schedule', () => {
  const cfg = { lr: 1e-3, warmupSteps: 10, totalSteps: 110, lrSchedule: 'cosine' as const, minLrFactor: 0.1 };
  it('warms up linearly from lr/W', () => {
    expect(learningRate(cfg, 0)).toBeCloseTo(1e-4, 15);
    expect(learningRate(cfg, 4)).toBeCloseTo(5e-4, 15);
    expect(learningRate(cfg, 9)).toBeCloseTo(1e-3, 15);
  });
  it('decays by a half cosine to minLrFactor * lr at totalSteps and stays there', () => {
    expect(learningRate(cfg, 10)).toBeCloseTo(1e-3, 15);
    // Half way through the decay: m + (1 - m) / 2 = 0.55.
    expect(learningRate(cfg, 60)).toBeCloseTo(0.55e-3, 15);
    // A quarter: m + (1 - m)(1 + cos(pi/4))/2.
    expect(learningRate(cfg, 35)).toBeCloseTo(1e-3 * (0.1 + 0.9 * 0.5 * (1 + Math.SQRT1_2)), 15);
    expect(learningRate(cfg, 110)).toBeCloseTo(1e-4, 15);
    expect(learningRate(cfg, 500)).toBeCloseTo(1e-4, 15);
  });
  it('constant keeps lr after the warm-up; no warm-up starts at lr', () => {
    expect(learningRate({ ...cfg, lrSchedule: 'constant' }, 100)).toBe(1e-3);
    expect(learningRate({ ...cfg, warmupSteps: 0 }, 0)).toBeCloseTo(1e-3, 15);
  });
});

describe('EMA', () => {
  it('decay warms up as min(decay, (1 + k) / (10 + k))', () => {
    expect(emaDecayAt(0.999, 0)).toBeCloseTo(0.1, 15);
    expect(emaDecayAt(0.999, 10)).toBeCloseTo(11 / 20, 15);
    expect(emaDecayAt(0.999, 100_000)).toBe(0.999);
    expect(emaDecayAt(0.999, 0, false)).toBe(0.999);
  });
  it('ema <- d ema + (1 - d) p', () => {
    const f = jitTree((e: JaxArray, p: JaxArray) => emaLeaf(e, p, 0.75));
    const got = readF32(f(arrayF32(Float32Array.of(1, -2), [2]), arrayF32(Float32Array.of(3, 2), [2])));
    expect(Array.from(got)).toEqual([1.5, -1]);
  });
});
