/** `tweedie issgm` end to end at tiny sizes, and its bad inputs. */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readNpyBatch } from '../../src/io/npy.js';

const ROOT = resolve(import.meta.dirname, '../..');
const CLI = join(ROOT, 'dist/cli/main.js');
const work = mkdtempSync(join(tmpdir(), 'tweedie-issgm-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function tweedie(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: work, encoding: 'utf8', timeout: 300_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

describe('tweedie issgm', () => {
  it('samples q from an exact score, with ground truth, floor, E[l] and the Fig. 2 panel', () => {
    const r = tweedie('issgm', '--model', 'exact:8gaussians', '--weight', 'tilt:1,0.5', '--n', '600', '--steps', '100', '--out', 'a', '--quiet');
    expect(r.code, r.stderr).toBe(0);
    const res = JSON.parse(readFileSync(join(work, 'a/result.json'), 'utf8'));
    for (const k of ['jsd', 'w2', 'E_q_l_issgm', 'E_q_l_truth', 'E_p_l_exact', 'ess_of_l_under_p']) expect(Number.isFinite(res.metrics[k]), k).toBe(true);
    expect(Number.isFinite(res.floor.jsd)).toBe(true);
    // The tilt exp(x1 + x2/2) favours large x1: q's weight mean is well above p's (8gaussians: E_q[l] / E_p[l] > 2).
    expect(res.metrics.E_q_l_issgm).toBeGreaterThan(2 * res.metrics.E_p_l_exact);
    expect(res.config.issgm).toMatchObject({ eps0: 0.001, epsRule: 'relative', floor: 1e-6 });
    const q = readNpyBatch(join(work, 'a/samples.npy'));
    expect([q.n, q.dim]).toEqual([600, 2]);
    for (const f of ['samples.png', 'fig2_panel.png', 'p_samples.npy', 'ground_truth.npy']) expect(existsSync(join(work, 'a', f)), f).toBe(true);
  });

  it('takes a weight from a module file (logWeight(x, np), gradient by autodiff)', () => {
    writeFileSync(join(work, 'w.mjs'), 'export function logWeight(x, np) { return np.sum(np.multiply(x, np.array([1, 0.5])), -1); }\n');
    const r = tweedie('issgm', '--model', 'exact:8gaussians', '--weight', 'w.mjs', '--n', '300', '--steps', '50', '--out', 'b', '--quiet', '--panel-times', '0');
    expect(r.code, r.stderr).toBe(0);
    // Same l as tilt:1,0.5 with the same seed: the same samples up to float32 autodiff rounding.
    const a = readNpyBatch(join(work, 'b/samples.npy'));
    const t = tweedie('issgm', '--model', 'exact:8gaussians', '--weight', 'tilt:1,0.5', '--n', '300', '--steps', '50', '--out', 'c', '--quiet', '--panel-times', '0');
    expect(t.code, t.stderr).toBe(0);
    const b = readNpyBatch(join(work, 'c/samples.npy'));
    let err = 0;
    for (let i = 0; i < a.data.length; i++) err = Math.max(err, Math.abs(a.data[i] - b.data[i]));
    expect(err).toBeLessThan(1e-3);
  });

  const bad: [string, string[], RegExp][] = [
    ['unknown weight', ['--model', 'exact:8gaussians', '--weight', 'cubic'], /cubic.*norm2/],
    ['tilt of the wrong dimension', ['--model', 'exact:8gaussians', '--weight', 'tilt:1,2,3'], /dimension|coefficient/i],
    ['no exact score', ['--model', 'exact:2spirals', '--weight', 'norm2'], /no exact score for '2spirals'.*exact:8gaussians/],
    ['missing model folder', ['--model', 'nowhere', '--weight', 'norm2'], /no model at/],
    ['weight module that throws', ['--model', 'exact:8gaussians', '--weight', 'throws.mjs'], /throws\.mjs/],
    ['unknown correction', ['--model', 'exact:8gaussians', '--weight', 'norm2', '--correction', 'second'], /correction.*none, variance/],
  ];

  it('--correction variance: recorded in result.json with its draws, and moves E_q[l] towards the truth for |x|^2', () => {
    const common = ['--model', join(ROOT, 'data/2spirals-model.safetensors'), '--weight', 'norm2', '--n', '2000', '--steps', '100', '--quiet', '--panel-times', '0', '--seed', '4'];
    expect(tweedie('issgm', ...common, '--correction', 'variance', '--draws', '4', '--out', 'var').code).toBe(0);
    expect(tweedie('issgm', ...common, '--out', 'paper').code).toBe(0);
    const v = JSON.parse(readFileSync(join(work, 'var/result.json'), 'utf8'));
    const p = JSON.parse(readFileSync(join(work, 'paper/result.json'), 'utf8'));
    expect(v.config.issgm).toMatchObject({ correction: 'variance', draws: 4 });
    expect(p.config.issgm.correction).toBe('none');
    // Same ground truth (same seed). On the bundled spirals model the paper's update over-tilts
    // |x|^2 (measured E_q 8.13 against the truth's 6.99, W2 0.79, floor 0.20); the correction
    // removes most of it (7.62, W2 0.40). The SE of each E_q at n 2000 is ~0.08, so the margin
    // asserted (half the measured gain) is ~3 SE.
    expect(v.metrics.E_q_l_truth).toBe(p.metrics.E_q_l_truth);
    const gap = (r: { metrics: { E_q_l_issgm: number; E_q_l_truth: number } }): number => Math.abs(r.metrics.E_q_l_issgm - r.metrics.E_q_l_truth);
    expect(gap(v)).toBeLessThan(gap(p) - 0.25);
    expect(v.metrics.w2).toBeLessThan(p.metrics.w2);
  });
  it.each(bad)('%s: exit 2 with one clear message', (_n, args, message) => {
    writeFileSync(join(work, 'throws.mjs'), 'export function logWeight() { throw new Error("boom"); }\n');
    const r = tweedie('issgm', ...args, '--n', '50', '--steps', '10', '--out', 'bad', '--quiet');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('npm run demo (tweedie demo)', () => {
  it('runs ISSGM with |x|^2 on the bundled 2spirals model and writes samples, metrics with the floor and plots', () => {
    const r = tweedie('demo', '--n', '300', '--steps', '40', '--out', 'demo');
    expect(r.code, r.stderr).toBe(0);
    const res = JSON.parse(readFileSync(join(work, 'demo/result.json'), 'utf8'));
    expect(res.config.weight).toBe('norm2');
    expect(res.config.base).toMatch(/2spirals/);
    expect(Number.isFinite(res.metrics.jsd) && Number.isFinite(res.floor.jsd)).toBe(true);
    expect(res.metrics.E_q_l_issgm).toBeGreaterThan(res.metrics.E_p_l_exact); // the weight moves mass outwards
    for (const f of ['samples.npy', 'samples.png', 'fig2_panel.png']) expect(existsSync(join(work, 'demo', f)), f).toBe(true);
  });
});
