/**
 * The CLI end to end, as a user runs it: the built `dist/cli/main.js` in a subprocess
 * (`npm test` builds first). Outputs, determinism, the POT/SciPy cross-check through `eval`, and
 * every bad input giving exit code 2 with one message that names the problem.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fromRows } from '../../src/core/batch.js';
import { encodeNpy, readNpyBatch, writeNpy } from '../../src/io/npy.js';

const ROOT = resolve(import.meta.dirname, '../..');
const CLI = join(ROOT, 'dist/cli/main.js');
const DATA = join(ROOT, 'data');
const work = mkdtempSync(join(tmpdir(), 'tweedie-cli-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function tweedie(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: work, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function result(dir: string): Record<string, any> {
  return JSON.parse(readFileSync(join(work, dir, 'result.json'), 'utf8'));
}

describe('tweedie --help', () => {
  it('explains every command', () => {
    const r = tweedie('--help');
    expect(r.code).toBe(0);
    for (const c of ['sample', 'eval', 'demo']) expect(r.stdout).toContain(c);
    const e = tweedie('eval', '--help');
    expect(e.code).toBe(0);
    expect(e.stdout).toMatch(/--floor/);
    expect(e.stdout).toMatch(/Example/);
  });
});

describe('tweedie sample', () => {
  it('writes samples.npy, a plot and result.json with seed, config and version', () => {
    const r = tweedie('sample', '--target', '2spirals', '--n', '500', '--seed', '3', '--out', 's1');
    expect(r.code, r.stderr).toBe(0);
    const b = readNpyBatch(join(work, 's1/samples.npy'));
    expect([b.n, b.dim]).toEqual([500, 2]);
    expect(existsSync(join(work, 's1/samples.png'))).toBe(true);
    const res = result('s1');
    expect(res.seed).toBe(3);
    expect(res.config).toMatchObject({ target: '2spirals', n: 500 });
    expect(res.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(res.timings.totalSeconds).toBeGreaterThan(0);
  });
  it('is reproducible by seed (seed 0 included) and differs across seeds', () => {
    for (const [dir, seed] of [['a', '0'], ['b', '0'], ['c', '1']]) {
      expect(tweedie('sample', '--target', 'gmm40', '--n', '50', '--seed', seed, '--out', dir, '--no-plot').code).toBe(0);
    }
    const bytes = (d: string) => readFileSync(join(work, d, 'samples.npy'));
    expect(bytes('a').equals(bytes('b'))).toBe(true);
    expect(bytes('a').equals(bytes('c'))).toBe(false);
    expect(result('a').seed).toBe(0);
  });
});

describe('tweedie eval', () => {
  const fx = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/metrics/pot_scipy.json'), 'utf8'));
  it('agrees with POT exact W1/W2 and SciPy JSD/TVD on the fixture within 1e-6 relative', () => {
    writeNpy(join(work, 'fa.npy'), fromRows(fx.d2.a));
    writeNpy(join(work, 'fb.npy'), fromRows(fx.d2.b));
    const r = tweedie('eval', '--samples', 'fa.npy', '--reference', 'fb.npy', '--out', 'e1');
    expect(r.code, r.stderr).toBe(0);
    const m = result('e1').metrics;
    const h = fx.d2.hist[0];
    expect(h.bins).toBe(64);
    expect(h.range).toEqual([[-4.5, 4.5], [-4.5, 4.5]]);
    const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);
    expect(rel(m.w1, fx.d2.w1)).toBeLessThan(1e-6);
    expect(rel(m.w2, fx.d2.w2)).toBeLessThan(1e-6);
    expect(rel(m.jsd, h.jsd)).toBeLessThan(1e-6);
    expect(rel(m.tvd, h.tvd)).toBeLessThan(1e-6);
    // 8-D: only the metrics that apply by default (no 2-D histograms).
    writeNpy(join(work, 'ga.npy'), fromRows(fx.d8.a));
    writeNpy(join(work, 'gb.npy'), fromRows(fx.d8.b));
    const r8 = tweedie('eval', '--samples', 'ga.npy', '--reference', 'gb.npy', '--out', 'e8');
    expect(r8.code, r8.stderr).toBe(0);
    const m8 = result('e8').metrics;
    expect(rel(m8.w2, fx.d8.w2)).toBeLessThan(1e-6);
    expect(m8.jsd).toBeUndefined();
  });
  it('reports the floor: the same metrics of a second reference set', () => {
    for (const [d, s] of [['ra', '1'], ['rb', '2'], ['rc', '3']]) {
      expect(tweedie('sample', '--target', '8gaussians', '--n', '400', '--seed', s, '--out', d, '--no-plot').code).toBe(0);
    }
    const r = tweedie('eval', '--samples', 'ra/samples.npy', '--reference', 'rb/samples.npy', '--floor', 'rc/samples.npy',
      '--metrics', 'w2,jsd', '--bins', '32', '--out', 'e2');
    expect(r.code, r.stderr).toBe(0);
    const res = result('e2');
    expect(Object.keys(res.metrics).sort()).toEqual(['jsd', 'w2']);
    expect(Object.keys(res.floor).sort()).toEqual(['jsd', 'w2']);
    expect(res.config.bins).toBe(32);
    expect(r.stdout).toMatch(/floor/);
  });
  it('computes DW-4 energy and distance TVD on centred reference sets', () => {
    const full = readNpyBatch(join(DATA, 'val_split_DW4.npy'));
    const half = (start: number) => ({ n: 300, dim: 8, data: full.data.slice(start * 8, (start + 300) * 8) });
    writeNpy(join(work, 'dwa.npy'), half(0), '<f4');
    writeNpy(join(work, 'dwb.npy'), half(5000), '<f4');
    const r = tweedie('eval', '--samples', 'dwa.npy', '--reference', 'dwb.npy', '--energy', 'dw4', '--out', 'e3');
    expect(r.code, r.stderr).toBe(0);
    const m = result('e3').metrics;
    for (const k of ['w1', 'w2', 'energy_tvd', 'distance_tvd']) expect(m[k]).toBeGreaterThan(0);
    expect(m.energy_tvd).toBeLessThan(1);
  });
});

describe('tweedie demo', () => {
  it('runs reverse diffusion of GMM-40 and writes samples, metrics with the floor, and plots', () => {
    const r = tweedie('demo', '--gmm40', '--n', '200', '--steps', '200', '--out', 'd');
    expect(r.code, r.stderr).toBe(0);
    const res = result('d');
    for (const k of ['w1', 'w2', 'tvd', 'mean_l2']) {
      expect(Number.isFinite(res.metrics[k])).toBe(true);
      expect(Number.isFinite(res.floor[k])).toBe(true);
    }
    for (const f of ['samples.npy', 'reference.npy', 'samples.png', 'samples.svg']) expect(existsSync(join(work, 'd', f))).toBe(true);
  });
});

describe('bad input: exit 2 and one message naming the problem', () => {
  writeNpy(join(work, 'good.npy'), fromRows([[0, 0], [1, 1], [2, 0]]));
  writeNpy(join(work, 'good3.npy'), fromRows([[0, 0, 0], [1, 1, 1], [2, 0, 1]]));
  writeNpy(join(work, 'nan.npy'), fromRows([[0, 0], [NaN, 1], [2, 0]]));
  const bytes = encodeNpy({ shape: [3, 2], data: [0, 0, 1, 1, 2, 0] });
  writeFileSync(join(work, 'truncated.npy'), bytes.subarray(0, bytes.length - 5));
  writeFileSync(join(work, 'corrupt.npy'), Buffer.from('this is not a numpy file at all'));
  const cases: [string, string[], RegExp][] = [
    ['missing file', ['eval', '--samples', 'nope.npy', '--reference', 'good.npy'], /nope\.npy/],
    ['corrupt file', ['eval', '--samples', 'corrupt.npy', '--reference', 'good.npy'], /corrupt\.npy.*magic|magic.*corrupt\.npy/i],
    ['truncated file', ['eval', '--samples', 'truncated.npy', '--reference', 'good.npy'], /truncated\.npy.*(expected|bytes)/i],
    ['shape mismatch', ['eval', '--samples', 'good.npy', '--reference', 'good3.npy'], /good3\.npy.*(dim|column)|column.*good3/i],
    ['NaN in samples', ['eval', '--samples', 'nan.npy', '--reference', 'good.npy'], /nan\.npy.*row 1/i],
    ['unknown target', ['sample', '--target', 'nonesuch'], /unknown target 'nonesuch'.*2spirals/],
    ['unknown option', ['sample', '--target', 'moons', '--frobnicate'], /unknown option.*--frobnicate/],
    ['unknown metric', ['eval', '--samples', 'good.npy', '--reference', 'good.npy', '--metrics', 'w2,kl'], /'kl'.*choose from/],
    ['bad count', ['sample', '--target', 'moons', '--n', '-5'], /--n.*integer|integer.*-5/],
    ['histogram metric in 3-D', ['eval', '--samples', 'good3.npy', '--reference', 'good3.npy', '--metrics', 'jsd'], /2-D/],
  ];
  it.each(cases)('%s', (_name, args, message) => {
    const r = tweedie(...args, '--out', 'bad');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });
});
