/**
 * A user's weight from a module file: both export forms against analytic values and gradients,
 * and every failure mode as one InputError naming the file. Modules are written to a temp dir
 * outside the repository (so they cannot import 'tweedie': the `np` argument is the only door).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeBatch } from '../../src/core/batch.js';
import { keyFromSeed } from '../../src/core/key.js';
import { VPSDE } from '../../src/diffusion/vp.js';
import { isInputError } from '../../src/io/errors.js';
import { loadWeightModule } from '../../src/io/weight-module.js';
import { sampleIssgm } from '../../src/issgm/sampler.js';
import { tiltWeight } from '../../src/issgm/weights.js';
import { Gaussian } from '../../src/targets/gaussian.js';

const dir = mkdtempSync(join(tmpdir(), 'tweedie-weight-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let counter = 0;
function mod(source: string): string {
  const f = join(dir, `w${counter++}.mjs`);
  writeFileSync(f, source);
  return f;
}

async function loadError(path: string, dim = 2): Promise<string> {
  try {
    await loadWeightModule(path, { dim });
  } catch (e) {
    expect(isInputError(e)).toBe(true);
    return (e as Error).message;
  }
  throw new Error('did not throw');
}

const x = makeBatch(3, 2, [0.5, -1, 2, 0.25, -0.3, 0.7]);

describe('loadWeightModule', () => {
  it('logWeight(x, np): values and autodiff gradients of log(|x|^2 + 1) (float32: 1e-6)', async () => {
    const w = await loadWeightModule(mod('export function logWeight(x, np) { return np.log(np.add(np.sum(np.multiply(x, x), -1), 1)); }\n'), { dim: 2 });
    expect(w.form).toBe('logWeight');
    const r = w.valueAndGrad(x);
    for (let i = 0; i < 3; i++) {
      const a = x.data[2 * i];
      const b = x.data[2 * i + 1];
      const s = a * a + b * b + 1;
      expect(r.value[i]).toBeCloseTo(Math.log(s), 6);
      expect(r.grad.data[2 * i]).toBeCloseTo((2 * a) / s, 6);
      expect(r.grad.data[2 * i + 1]).toBeCloseTo((2 * b) / s, 6);
    }
    expect(Array.from(w.value(x))).toEqual(Array.from(r.value));
  });

  it('value(x) and grad(x): plain JS on rows (nested or flat gradient)', async () => {
    const src = `export const dim = 2;
export function value(x) { return x.map(([a, b]) => a - 2 * b); }
export function grad(x) { return x.map(() => [1, -2]); }
`;
    const w = await loadWeightModule(mod(src), { dim: 2 });
    expect(w.form).toBe('value+grad');
    const r = w.valueAndGrad(x);
    expect(Array.from(r.value)).toEqual([2.5, 1.5, -1.7]);
    expect(Array.from(r.grad.data)).toEqual([1, -2, 1, -2, 1, -2]);
    const flat = await loadWeightModule(mod('export const value = (x) => new Float64Array(x.length);\nexport const grad = (x) => new Float64Array(2 * x.length).fill(3);\n'), { dim: 2 });
    expect(Array.from(flat.valueAndGrad(x).grad.data)).toEqual([3, 3, 3, 3, 3, 3]);
  });

  it('drives the sampler like a built-in (a module tilt gives the same samples as tilt:1,-0.5 to float32 accuracy)', async () => {
    const sde = new VPSDE();
    const model = new Gaussian([0.5, -1], { variance: 0.5 }).diffusedScore(sde);
    const w = await loadWeightModule(mod('export function logWeight(x, np) { return np.sum(np.multiply(x, np.array([1, -0.5])), -1); }\n'), { dim: 2 });
    const a = sampleIssgm(keyFromSeed(3), model, w, sde, { n: 20, steps: 30 }).samples;
    const b = sampleIssgm(keyFromSeed(3), model, tiltWeight([1, -0.5]), sde, { n: 20, steps: 30 }).samples;
    for (let k = 0; k < a.data.length; k++) expect(a.data[k]).toBeCloseTo(b.data[k], 5);
  });

  it('accepts -Infinity (l = 0, floored by the sampler) and rejects NaN with the row index', async () => {
    const w = await loadWeightModule(mod('export function logWeight(x, np) { return np.log(np.maximum(np.add(np.sum(x, -1), 2), 0)); }\n'), { dim: 2 });
    const y = makeBatch(2, 2, [1, 1, -3, -1]);
    expect(w.value(y)[1]).toBe(-Infinity);
    const naive = await loadWeightModule(mod('export function logWeight(x, np) { return np.log(np.add(np.sum(x, -1), 2)); }\n'), { dim: 2 });
    let msg = '';
    try {
      naive.valueAndGrad(y);
    } catch (e) {
      expect(isInputError(e)).toBe(true);
      msg = (e as Error).message;
    }
    expect(msg).toMatch(/log l is NaN at row 1 \(x = \[-3, -1\]\); log l must be a number, or -Infinity where l = 0 .*np\.log\(np\.maximum\(l, 0\)\)/);
    const badGrad = await loadWeightModule(mod('export const value = (x) => x.map(() => 1);\nexport const grad = (x) => x.map((r, i) => (i === 2 ? [0, NaN] : [0, 0]));\n'), { dim: 2 });
    expect(() => badGrad.valueAndGrad(x)).toThrow(/gradient of log l is not finite \(NaN\) at row 2, coordinate 1/);
    const inf = await loadWeightModule(mod('export const value = (x) => x.map((r, i) => (i === 0 ? Infinity : 0));\nexport const grad = (x) => x.map(() => [0, 0]);\n'), { dim: 2 });
    expect(() => inf.value(x)).toThrow(/log l is Infinity at row 0/);
  });

  it('every load failure is one InputError naming the file', async () => {
    expect(await loadError(join(dir, 'missing.mjs'))).toMatch(/weight module .*missing\.mjs not found/);
    expect(await loadError(mod('export function logWeight(x, np) { return np.sum(x, -1) \n'))).toMatch(/w\d+\.mjs failed to load: .*/);
    expect(await loadError(mod('throw new Error("boom at import");\n'))).toMatch(/failed to load: boom at import/);
    expect(await loadError(mod('export const weight = 1;\nexport function other() {}\n'))).toMatch(
      /export either logWeight\(x, np\) .* or both value\(x\) and grad\(x\); it exports weight \(number\), other \(function\)/,
    );
    expect(await loadError(mod('export const value = (x) => x.map(() => 0);\n'))).toMatch(/exports value but no grad/);
    expect(await loadError(mod('export const value = (x) => [];\nexport const grad = (x) => [];\nexport const logWeight = (x, np) => x;\n'))).toMatch(/not both/);
    expect(await loadError(mod('export const dim = 3;\nexport function logWeight(x, np) { return np.sum(x, -1); }\n'))).toMatch(/exports dim = 3, but the model has dimension 2/);
    // Wrong output shape: caught at load time by the probe.
    expect(await loadError(mod('export function logWeight(x, np) { return np.sum(x, 0); }\n'))).toMatch(
      /logWeight\(x, np\) failed: logWeight in .*w\d+\.mjs must map an \[n, dim\] = \[3, 2\] array to per-row values of shape \[3\], but returned shape \[2\]/,
    );
    expect(await loadError(mod('export function logWeight(x, np) { return np.multiply(x, 2); }\n'))).toMatch(/per-row values of shape \[3\], but returned shape \[3, 2\]/);
    expect(await loadError(mod('export function logWeight(x, np) { throw new Error("user bug"); }\n'))).toMatch(/logWeight\(x, np\) failed: user bug/);
    expect(await loadError(mod('export const value = (x) => [1];\nexport const grad = (x) => x.map(() => [0, 0]);\n'))).toMatch(/value\(x\) must return 3 numbers \(one log l per row of x\), got 1 values/);
    expect(await loadError(mod('export const value = (x) => x.map(() => 0);\nexport const grad = (x) => x.map(() => [0]);\n'))).toMatch(/grad\(x\) must return 3 rows of 2 numbers .* got row 0 with 1 values/);
    expect(await loadError(mod('export const value = (x) => { throw new Error("nope"); };\nexport const grad = (x) => x;\n'))).toMatch(/value\(x\) threw: nope/);
    expect(await loadError(mod('export const value = async (x) => x.map(() => 0);\nexport const grad = (x) => x.map(() => [0, 0]);\n'))).toMatch(/returned a Promise; it must be synchronous/);
  });
});
