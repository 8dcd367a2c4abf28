/**
 * ISSGM on a 2-D Gaussian p = N(mu, S) (full covariance) with its exact diffused score and the
 * exponential tilt l(x) = exp(a.x): the target is q = N(mu + S a, S) in closed form.
 *
 * Here eq. (16) is exact: the Taylor step (11)-(12) is exact for a linear log l and a Gaussian
 * posterior (E[a.X0 | x] = a.x0h, Cov[X0 | x] independent of x), (14) is the chain rule, and the
 * difference quotient (15) of a linear score is exact. So `sq` equals the exact score of q_t up to
 * the rounding of the difference quotient (measured 3.6e-11 relative at t = 1, where (1 - abar) /
 * (eps sqrt(abar)) = 6.6e5 multiplies it; 2e-16 at t = 1e-3): test 1 checks this to 1e-9.
 *
 * Then every ISSGM step is affine-Gaussian (helpers.ts), so:
 *  2. Floor: the continuous-time limit of the sampler, started from N(0, I) instead of q_1 and
 *     ending with Tweedie at tMin = 1e-3, has a closed-form law; its distance to q (the prior
 *     mismatch, forgotten, and Tweedie's shrinkage ~sigma_tMin^2) is computed: 1.1e-4.
 *     The EM discretisation bias |law_K - limit| is computed exactly through the very step
 *     functions: measured 6.7e-3 at K = 200, 3.3e-3 at 400 (first order, ratio 2.0).
 *  3. Monte Carlo: sample mean and covariance of n = 4000 draws against the chain's exact law with
 *     |z| < 4.5 (Gaussian standard errors; P(|z| > 4.5) = 6.8e-6 per check, 5 checks per run, two
 *     runs (EM, ancestral): failure budget 7e-5 for a random key; the keys are fixed), and against
 *     the truth q with tolerance 4.5 SE + the computed discretisation allowance |law_K - q|.
 *     Over 200 seeds (n = 1000, EM) the five z-scores against law_K had means -0.02..0.11, sds
 *     0.98..1.07 and max |z| 3.1 (checked once when the test was written).
 */
import { describe, expect, it } from 'vitest';
import { makeBatch, type Batch } from '../../src/core/batch.js';
import { keyFromSeed, normalBatch } from '../../src/core/key.js';
import { ancestralStep } from '../../src/diffusion/ancestral.js';
import { DDPMSchedule } from '../../src/diffusion/ddpm.js';
import { reverseEulerMaruyamaStep } from '../../src/diffusion/em.js';
import { uniformTimeGrid } from '../../src/diffusion/grids.js';
import { meanFromScore } from '../../src/diffusion/parametrisation.js';
import { VPSDE } from '../../src/diffusion/vp.js';
import { issgmScore, sampleIssgm } from '../../src/issgm/sampler.js';
import { tiltWeight } from '../../src/issgm/weights.js';
import { Gaussian } from '../../src/targets/gaussian.js';
import {
  add, I2, inv, lawDistance, matvec, mul, propagate2, sampleLaw, scale, standardErrors2, transpose, zScores2, type Law2,
} from './helpers.js';

const Z = 4.5;
const sde = new VPSDE();
const p = new Gaussian([0.5, -1], { cov: [[1, 0.6], [0.6, 0.8]] });
const A_TILT = [1, -0.5];
const q = p.tilted(A_TILT); // N(mu + S a, S) = N((1.2, -0.8), S)
const truth: Law2 = { mean: Float64Array.from(q.mean), cov: q.covarianceMatrix() };
const model = p.diffusedScore(sde);
const weight = tiltWeight(A_TILT);
const N = 4000;
const TMIN = 1e-3;

/** Exact law of the ISSGM EM chain on `grid` (from N(0, I)), with the final Tweedie step under q. */
function emLaw(grid: Float64Array): Law2 {
  let law: Law2 = { mean: new Float64Array(2), cov: I2.slice() };
  for (let k = 0; k + 1 < grid.length; k++) {
    const t = grid[k];
    const dt = t - grid[k + 1];
    law = propagate2((x, z) => reverseEulerMaruyamaStep(x, issgmScore(x, t, model, weight, sde).score, t, dt, z ?? zeros(x), sde), law, true);
  }
  const tl = grid[grid.length - 1];
  return propagate2((x) => meanFromScore(issgmScore(x, tl, model, weight, sde).score, x, sde, tl), law, false);
}

function zeros(x: Batch): Batch {
  return makeBatch(x.n, x.dim);
}

/**
 * Closed-form law of the exact continuous-time reverse SDE of q from x_1 ~ N(0, I) to x_eps, then
 * Tweedie under q at eps. With m_t = alpha_t mu_q, Sig_t = alpha_t^2 S + sigma_t^2 I:
 * the reverse SDE samples x_eps | x_1 (Gaussian conditioning, Cov(x_eps, x_1) = C =
 * (alpha_1 / alpha_eps) Sig_eps, G = C Sig_1^{-1}), so x_eps ~ N(m_eps - G m_1, Sig_eps - G C^T + G G^T);
 * Tweedie x0 = (x + sigma^2 s_q(x)) / alpha is affine: (I - sigma^2 Sig_eps^{-1}) / alpha x + sigma^2 Sig_eps^{-1} m_eps / alpha.
 */
function limitLaw(eps: number): Law2 {
  const S = truth.cov;
  const sig = (t: number): Float64Array => add(scale(S, sde.alpha(t) ** 2), scale(I2, sde.sigma2(t)));
  const m = (t: number): Float64Array => scale(truth.mean, sde.alpha(t));
  const S1 = sig(1);
  const Se = sig(eps);
  const C = scale(Se, sde.alpha(1) / sde.alpha(eps));
  const G = mul(C, inv(S1));
  const mean0 = add(m(eps), matvec(G, m(1)), -1);
  const cov0 = add(add(Se, mul(G, transpose(C)), -1), mul(G, transpose(G)));
  const ae = sde.alpha(eps);
  const s2 = sde.sigma2(eps);
  const Si = inv(Se);
  const TA = scale(add(I2, scale(Si, s2), -1), 1 / ae);
  const TB = scale(matvec(Si, m(eps)), s2 / ae);
  return { mean: add(matvec(TA, mean0), TB), cov: mul(mul(TA, cov0), transpose(TA)) };
}

function expectZ(x: Batch, law: Law2): void {
  const z = zScores2(x, law);
  for (const v of [...z.mean, ...z.cov]) expect(Math.abs(v)).toBeLessThan(Z);
}

/** |sample - truth| <= Z SE + allowance, for the mean and each covariance entry. */
function expectWithinTruth(x: Batch, law: Law2, allowance: number): void {
  const s = sampleLaw(x);
  const se = standardErrors2(truth, x.n);
  for (let j = 0; j < 2; j++) expect(Math.abs(s.mean[j] - truth.mean[j])).toBeLessThan(Z * se.mean[j] + allowance);
  [[0, 0], [0, 1], [1, 1]].forEach(([i, j], k) => {
    expect(Math.abs(s.cov[i * 2 + j] - truth.cov[i * 2 + j])).toBeLessThan(Z * se.cov[k] + allowance);
  });
}

describe('ISSGM on a 2-D Gaussian p with an exponential tilt (q = N(mu + S a, S) exactly)', () => {
  it('eq. (16) is the exact score of q_t here, to 1e-9 relative (rounding of the difference quotient)', () => {
    const x = normalBatch(keyFromSeed(3), 50, 2);
    const exact = q.diffusedScore(sde);
    for (const t of [1e-3, 0.01, 0.1, 0.5, 0.9, 1]) {
      for (const epsRule of ['relative', 'fixed'] as const) {
        const r = issgmScore(x, t, model, weight, sde, { epsRule });
        const ex = exact.score(x, t);
        let err = 0;
        let sc = 0;
        for (let j = 0; j < ex.data.length; j++) {
          err = Math.max(err, Math.abs(r.score.data[j] - ex.data[j]));
          sc = Math.max(sc, Math.abs(ex.data[j]));
        }
        expect(err / sc).toBeLessThan(1e-9);
        // x0h is p's Tweedie mean; g is the tilt vector; eps = eps0 / max(1, |a|) under the relative rule.
        expect(r.x0hat.data).toEqual(meanFromScore(model.score(x, t), x, sde, t).data);
        for (let i = 0; i < x.n; i++) {
          expect([r.g.data[2 * i], r.g.data[2 * i + 1]]).toEqual(A_TILT);
          expect(r.diagnostics.eps[i]).toBeCloseTo(epsRule === 'relative' ? 1e-3 / Math.hypot(1, 0.5) : 1e-3, 15);
        }
      }
    }
  });

  it('has a computed floor of ~1e-4 and an EM discretisation bias of 6.7e-3 at 200 steps, first order', () => {
    const limit = limitLaw(TMIN);
    const floor = lawDistance(limit, truth);
    // Measured 1.1e-4: Tweedie's shrinkage at tMin (~sigma_tMin^2 = 1.1e-4); the N(0, I) start is forgotten.
    expect(floor).toBeLessThan(2e-4);
    const b200 = lawDistance(emLaw(uniformTimeGrid(200, { tMin: TMIN })), limit);
    const b400 = lawDistance(emLaw(uniformTimeGrid(400, { tMin: TMIN })), limit);
    // Measured 6.7e-3 and 3.3e-3 (ratio 2.01: Euler–Maruyama's weak order 1).
    expect(b200).toBeLessThan(8e-3);
    expect(b200 / b400).toBeGreaterThan(1.8);
    expect(b200 / b400).toBeLessThan(2.2);
  });

  it('EM: samples match the chain law (|z| < 4.5) and q within 4.5 SE + the computed bias (n = 4000, 200 steps)', () => {
    const grid = uniformTimeGrid(200, { tMin: TMIN });
    const law = emLaw(grid);
    // The allowance is the computed bias of this chain (floor + discretisation, bounded in the test above).
    expect(lawDistance(law, truth)).toBeLessThan(8e-3);
    const { samples, diagnostics } = sampleIssgm(keyFromSeed(1), model, weight, sde, { n: N, grid });
    expectZ(samples, law);
    expectWithinTruth(samples, law, lawDistance(law, truth));
    expect(diagnostics.floored).toBe(0);
    expect(diagnostics.warnings).toEqual([]);
  });

  it('ancestral (DDPM, 200 steps): samples match the chain law (|z| < 4.5) and q within 4.5 SE + the computed bias', () => {
    // The 200-step DDPM schedule whose continuous limit is the default VP SDE (0.1, 20).
    const sch = new DDPMSchedule({ steps: 200, betaStart: 0.1 / 200, betaEnd: 20 / 200 });
    const m = p.diffusedScore(sch);
    let law: Law2 = { mean: new Float64Array(2), cov: I2.slice() };
    for (let i = sch.steps; i >= 1; i--) {
      const t = sch.time(i);
      law = propagate2((x, z) => ancestralStep(x, issgmScore(x, t, m, weight, sch).score, i, sch, z), law, i > 1);
    }
    const bias = lawDistance(law, truth);
    // Measured 5.0e-3 (discretisation of the 200-step chain; it ends at x_0 with no Tweedie step).
    expect(bias).toBeLessThan(8e-3);
    const { samples, diagnostics } = sampleIssgm(keyFromSeed(2), m, weight, sch, { n: N });
    expect(diagnostics.options.stepper).toBe('ancestral');
    expectZ(samples, law);
    expectWithinTruth(samples, law, bias);
  });
});
