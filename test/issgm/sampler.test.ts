/**
 * The ISSGM sampler's contract (exact invariants, no statistics): cost per step counted by
 * wrappers, determinism, purity, row consistency, reduction to the plain samplers when l is
 * constant, floor and non-finite counting, NaN stops naming the step and quantity, bad input.
 */
import { describe, expect, it } from 'vitest';
import { cloneBatch, makeBatch, sliceRows } from '../../src/core/batch.js';
import { keyFromSeed, normalBatch } from '../../src/core/key.js';
import type { LogWeight, ScoreModel } from '../../src/core/types.js';
import { sampleAncestral } from '../../src/diffusion/ancestral.js';
import { DDPMSchedule } from '../../src/diffusion/ddpm.js';
import { sampleReverseSDE } from '../../src/diffusion/em.js';
import { VPSDE } from '../../src/diffusion/vp.js';
import { isInputError } from '../../src/io/errors.js';
import { IssgmNonFiniteError, issgmScore, sampleIssgm, type IssgmStepInfo } from '../../src/issgm/sampler.js';
import { norm2Weight, sum2Weight, tiltWeight } from '../../src/issgm/weights.js';
import { Gaussian } from '../../src/targets/gaussian.js';
import { getMixture } from '../../src/targets/registry.js';

const sde = new VPSDE();
const p = new Gaussian([0.5, -1], { cov: [[1, 0.6], [0.6, 0.8]] });
const model = p.diffusedScore(sde);

/** Wraps a score model and a weight, counting calls (and rows seen). */
function counting(m: ScoreModel, w: LogWeight) {
  const c = { score: 0, grad: 0, value: 0 };
  const cm: ScoreModel = { dim: m.dim, score: (x, t) => { c.score++; return m.score(x, t); } };
  const cw: LogWeight = {
    dim: w.dim,
    value: (x) => { c.value++; return w.value(x); },
    valueAndGrad: (x) => { c.grad++; return w.valueAndGrad(x); },
  };
  return { c, cm, cw };
}

describe('sampleIssgm', () => {
  it('makes exactly two score evaluations and one grad log l per step (counted by wrappers)', () => {
    for (const denoiseLast of [true, false]) {
      const { c, cm, cw } = counting(model, tiltWeight([1, -0.5]));
      const steps = 37;
      const r = sampleIssgm(keyFromSeed(0), cm, cw, sde, { n: 9, steps, denoiseLast });
      const evals = steps + (denoiseLast ? 1 : 0);
      expect(c).toEqual({ score: 2 * evals, grad: evals, value: 0 });
      expect(r.diagnostics.scoreEvals).toBe(2 * evals);
      expect(r.diagnostics.weightGradEvals).toBe(evals);
      expect(r.diagnostics.evaluations).toBe(evals);
    }
    const sch = new DDPMSchedule({ steps: 25, betaStart: 1e-3, betaEnd: 0.3 });
    const { c, cm, cw } = counting(p.diffusedScore(sch), norm2Weight(2));
    sampleIssgm(keyFromSeed(0), cm, cw, sch, { n: 4 });
    expect(c).toEqual({ score: 50, grad: 25, value: 0 });
    // And the per-step function alone: 2 + 1.
    const one = counting(model, sum2Weight(2));
    const r = issgmScore(normalBatch(keyFromSeed(1), 5, 2), 0.4, one.cm, one.cw, sde);
    expect(one.c).toEqual({ score: 2, grad: 1, value: 0 });
    expect(r.diagnostics.scoreEvals + r.diagnostics.weightGradEvals).toBe(3);
  });

  it('is deterministic, pure and row-consistent, and reports every step to the callback', () => {
    const w = tiltWeight([1, -0.5]);
    const x0 = normalBatch(keyFromSeed(9), 10, 2);
    const keep = cloneBatch(x0);
    const infos: IssgmStepInfo[] = [];
    const a = sampleIssgm(keyFromSeed(2), model, w, sde, { x: x0, steps: 20, callback: (i) => infos.push(i) });
    const b = sampleIssgm(keyFromSeed(2), model, w, sde, { x: x0, steps: 20 });
    expect(a.samples.data).toEqual(b.samples.data);
    expect(x0.data).toEqual(keep.data);
    expect(infos.map((i) => i.step)).toEqual(Array.from({ length: 21 }, (_, k) => k));
    expect(infos[0].t).toBe(1);
    expect(infos[20].t).toBe(1e-3);
    expect(infos[0].x.data).toEqual(x0.data);
    for (const i of infos) for (const v of [i.x0hat, i.g, i.score]) expect(v.n).toBe(10);
    // Row i's path does not depend on how many rows run.
    const c = sampleIssgm(keyFromSeed(2), model, w, sde, { n: 7, steps: 20 });
    const d = sampleIssgm(keyFromSeed(2), model, w, sde, { n: 3, steps: 20 });
    expect(d.samples.data).toEqual(sliceRows(c.samples, 0, 3).data);
    // The per-step function does not mutate its input.
    const x = normalBatch(keyFromSeed(3), 6, 2);
    const xk = cloneBatch(x);
    issgmScore(x, 0.3, model, w, sde);
    expect(x.data).toEqual(xk.data);
  });

  it('with a constant weight (g = 0) reproduces sampleReverseSDE and sampleAncestral bit for bit', () => {
    const flat = tiltWeight([0, 0]);
    for (const denoiseLast of [true, false]) {
      const a = sampleIssgm(keyFromSeed(4), model, flat, sde, { n: 50, steps: 30, denoiseLast }).samples;
      const b = sampleReverseSDE(keyFromSeed(4), model, sde, { n: 50, steps: 30, denoiseLast });
      expect(a.data).toEqual(b.data);
    }
    const sch = new DDPMSchedule({ steps: 40, betaStart: 1e-3, betaEnd: 0.2 });
    const m = p.diffusedScore(sch);
    for (const variance of ['beta', 'posterior'] as const) {
      const a = sampleIssgm(keyFromSeed(5), m, flat, sch, { n: 20, variance }).samples;
      expect(a.data).toEqual(sampleAncestral(keyFromSeed(5), m, sch, { n: 20, variance }).data);
    }
  });

  it('records its options; validates stepper, schedule, eps and dimensions', () => {
    const w = tiltWeight([1, -0.5]);
    const r = sampleIssgm(keyFromSeed(0), model, w, sde, { n: 2, steps: 5, eps0: 2e-3, epsRule: 'fixed', floor: 1e-4 });
    expect(r.diagnostics.options).toEqual({
      stepper: 'em', steps: 5, tEnd: 1, tMin: 1e-3, eps0: 2e-3, epsRule: 'fixed', floor: 1e-4, denoiseLast: true, correction: 'none',
    });
    const sch = new DDPMSchedule({ steps: 10, betaStart: 1e-3, betaEnd: 0.3 });
    expect(() => sampleIssgm(keyFromSeed(0), model, w, sch, { n: 2, stepper: 'em' })).toThrow(/DiffusionSDE/);
    expect(() => sampleIssgm(keyFromSeed(0), model, w, sde, { n: 2, stepper: 'ancestral' })).toThrow(/DDPMSchedule/);
    expect(() => sampleIssgm(keyFromSeed(0), model, w, sch, { n: 2, steps: 20 })).toThrow(/10 steps/);
    expect(() => sampleIssgm(keyFromSeed(0), model, w, sde, { n: 2, eps0: 0 })).toThrow(/eps0/);
    expect(() => sampleIssgm(keyFromSeed(0), model, w, sde, { n: 2, floor: -1 })).toThrow(/floor/);
    expect(() => sampleIssgm(keyFromSeed(0), model, w, sde, { steps: 3 })).toThrow(/give n/);
    // A model/weight dimension mismatch is a clear InputError.
    let err: unknown;
    try {
      sampleIssgm(keyFromSeed(0), model, tiltWeight([1, 2, 3]), sde, { n: 2, steps: 3 });
    } catch (e) {
      err = e;
    }
    expect(isInputError(err)).toBe(true);
    expect((err as Error).message).toMatch(/dimension 2 but the weight is for dimension 3/);
  });

  it('floors l <= m with counted warnings (sum2 on a GMM: l < 0 on part of the data), never NaN', () => {
    const gmm = getMixture('8gaussians');
    const m = gmm.diffusedScore(sde);
    const n = 400;
    const r = sampleIssgm(keyFromSeed(6), m, sum2Weight(2), sde, { n, steps: 60 });
    const d = r.diagnostics;
    expect(r.samples.data.every(Number.isFinite)).toBe(true);
    expect(d.floored).toBeGreaterThan(0);
    expect(d.nonFinite).toBe(0);
    let perSample = 0;
    for (const v of d.flooredPerSample) perSample += v;
    expect(perSample).toBe(d.floored);
    expect(d.warnings).toHaveLength(1);
    expect(d.warnings[0]).toMatch(new RegExp(`weight floored at m = ${1e-6} in ${d.floored} of ${61 * n} \\(sample, step\\)`));
    // The floor is applied per evaluation: rows with l(x0h) <= m get g = 0 and log l = log m.
    const x = makeBatch(3, 2, [-3, -3, 1, 1, -1.5, -0.5]);
    const one = issgmScore(x, 1e-3, { dim: 2, score: (b) => makeBatch(b.n, 2) }, sum2Weight(2), sde);
    expect(Array.from(one.diagnostics.status)).toEqual([1, 0, 1]);
    expect(one.diagnostics.floored).toBe(2);
    expect(Array.from(one.g.data.subarray(0, 2))).toEqual([0, 0]);
    expect(one.diagnostics.logWeight[0]).toBe(Math.log(1e-6));
  });

  it('floors and counts NaN weights separately, and stops on a NaN gradient naming g', () => {
    const nanWeight: LogWeight = {
      dim: 2,
      value: (x) => new Float64Array(x.n).fill(NaN),
      valueAndGrad: (x) => ({ value: Float64Array.from({ length: x.n }, (_, i) => (i === 1 ? NaN : 0.5)), grad: makeBatch(x.n, 2) }),
    };
    const r = sampleIssgm(keyFromSeed(7), model, nanWeight, sde, { n: 3, steps: 10 });
    expect(r.diagnostics.nonFinite).toBe(11);
    expect(Array.from(r.diagnostics.nonFinitePerSample)).toEqual([0, 11, 0]);
    expect(r.diagnostics.warnings.join()).toMatch(/non-finite \(NaN or \+Infinity\) in 11 of 33/);
    const badGrad: LogWeight = {
      dim: 2,
      value: (x) => new Float64Array(x.n),
      valueAndGrad: (x) => ({ value: new Float64Array(x.n), grad: makeBatch(x.n, 2, Float64Array.from({ length: 2 * x.n }, (_, k) => (k === 3 ? NaN : 0))) }),
    };
    expect(() => sampleIssgm(keyFromSeed(7), model, badGrad, sde, { n: 3, steps: 10 })).toThrow(
      /ISSGM stopped at step 0 \(t = 1\): g is not finite \(NaN\) at row 1; the weight returned a finite log l but a non-finite gradient/,
    );
  });

  it('stops on NaN in the state, the score or x0hat with an Error naming the step and the quantity', () => {
    const w = tiltWeight([1, -0.5]);
    // A score that turns NaN at the 4th call: step 1's second evaluation (x + eps g).
    let calls = 0;
    const flaky: ScoreModel = {
      dim: 2,
      score: (x, t) => {
        calls++;
        const s = model.score(x, t);
        if (calls === 4) s.data[5] = NaN;
        return s;
      },
    };
    let err: unknown;
    try {
      sampleIssgm(keyFromSeed(8), flaky, w, sde, { n: 4, steps: 10 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(IssgmNonFiniteError);
    const e = err as IssgmNonFiniteError;
    expect(e.message).toMatch(/^ISSGM stopped at step 1 \(t = 0\.9001\): score at x \+ eps g is not finite \(NaN\) at row 2/);
    expect([e.step, e.quantity, e.row]).toEqual([1, 'score at x + eps g', 2]);
    // The base score at the first evaluation: 'score'.
    const bad: ScoreModel = { dim: 2, score: (x) => makeBatch(x.n, 2, new Float64Array(2 * x.n).fill(Infinity)) };
    expect(() => sampleIssgm(keyFromSeed(8), bad, w, sde, { n: 2, steps: 5 })).toThrow(/step 0 \(t = 1\): score is not finite \(Infinity\) at row 0/);
    // A huge score blows the state up: the step after names x.
    const huge: ScoreModel = { dim: 2, score: (x) => makeBatch(x.n, 2, new Float64Array(2 * x.n).fill(1e307)) };
    expect(() => sampleIssgm(keyFromSeed(8), huge, w, sde, { n: 2, steps: 5 })).toThrow(/step \d \(t = [^)]*\): (x|x0hat|guided score) is not finite/);
    // A NaN start state: x at step 0.
    const x = makeBatch(2, 2, [0, 0, NaN, 1]);
    expect(() => sampleIssgm(keyFromSeed(8), model, w, sde, { x, steps: 5 })).toThrow(/step 0 \(t = 1\): x is not finite \(NaN\) at row 1/);
  });
});

describe('issgmScore', () => {
  it('computes eq. (16) term by term (hand check on a linear score) with both eps rules', () => {
    // s(x) = -x (p_t = N(0, I) for every t): H = -I, so sq = -x + g/alpha - (1 - abar)/alpha g = -x + alpha g.
    const unit: ScoreModel = { dim: 2, score: (x) => ({ n: x.n, dim: 2, data: x.data.map((v) => -v) }) };
    const x = makeBatch(2, 2, [0.3, -0.7, 2, 1]);
    const t = 0.37;
    const a = sde.alpha(t);
    for (const epsRule of ['relative', 'fixed'] as const) {
      const r = issgmScore(x, t, unit, tiltWeight([3, -4]), sde, { epsRule });
      for (let j = 0; j < 4; j++) {
        const g = j % 2 === 0 ? 3 : -4;
        expect(r.score.data[j]).toBeCloseTo(-x.data[j] + a * g, 9);
        // x0h = (x + (1 - abar)(-x)) / alpha = alpha x.
        expect(r.x0hat.data[j]).toBeCloseTo(a * x.data[j], 14);
      }
      expect(r.diagnostics.eps[0]).toBe(epsRule === 'relative' ? 1e-3 / 5 : 1e-3);
    }
  });
});
