/**
 * `tweedie amortized train|sample` end to end at tiny sizes (the built CLI in a subprocess), the
 * energy-module loader, and bad input.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeBatch } from '../../src/core/batch.js';
import { loadEnergyModule } from '../../src/io/energy-module.js';
import { readNpyBatch } from '../../src/io/npy.js';

const ROOT = resolve(import.meta.dirname, '../..');
const CLI = join(ROOT, 'dist/cli/main.js');
const FIX = join(ROOT, 'test/fixtures/energy');
const work = mkdtempSync(join(tmpdir(), 'tweedie-amortized-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function tweedie(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: work, encoding: 'utf8', timeout: 180_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
const result = (dir: string) => JSON.parse(readFileSync(join(work, dir, 'result.json'), 'utf8'));
const TINY = ['--epochs', '2', '--iterations', '3', '--batch', '8', '--particles', '8', '--validate-every', '1', '--validate-n', '64', '--eval-n', '64', '--quiet'];

describe('tweedie amortized train / sample', () => {
  it('trains on gmm40, selects by validation W2, writes model, samples, plot and metrics with the floor; resumes; samples again', () => {
    const r = tweedie('amortized', 'train', '--target', 'gmm40', ...TINY, '--threads', '0', '--no-reference-pilot', '--out', 'g');
    expect(r.code, r.stderr).toBe(0);
    for (const f of ['checkpoint.safetensors', 'model.safetensors', 'config.json', 'samples.npy', 'samples.png', 'result.json']) expect(existsSync(join(work, 'g', f))).toBe(true);
    const res = result('g');
    expect(res.metrics.epochs).toBe(2);
    expect(res.metrics.w2).toBeGreaterThan(0);
    expect(res.floor.w2).toBeGreaterThan(0);
    expect(res.metrics.targetEvaluations).toBe(2 * 3 * 8 * 8 * 11); // weighted-mean estimate: no refinement steps
    expect(res.notes.join(' ')).toMatch(/validation W2/);
    expect(readNpyBatch(join(work, 'g/samples.npy')).n).toBe(64);

    expect(res.notes.join(' ')).not.toMatch(/reference pilot/);
    const again = tweedie('amortized', 'train', '--target', 'gmm40', ...TINY, '--epochs', '3', '--threads', '0', '--resume', '--out', 'g');
    expect(again.code, again.stderr).toBe(0);
    expect(result('g').metrics.epochs).toBe(3);

    const s = tweedie('amortized', 'sample', '--model', 'g', '--n', '50', '--steps', '20', '--out', 'gs');
    expect(s.code, s.stderr).toBe(0);
    expect(result('gs').metrics.w2).toBeGreaterThan(0);
    expect(readNpyBatch(join(work, 'gs/samples.npy')).n).toBe(50);

    // The paper's optional refinement: ODE candidates, importance weights, resampled to --n.
    const ir = tweedie('amortized', 'sample', '--model', 'g', '--n', '50', '--steps', '10', '--refine', '200', '--out', 'gir');
    expect(ir.code, ir.stderr).toBe(0);
    const rr = result('gir');
    expect(rr.metrics.candidates).toBe(200);
    expect(rr.metrics.ess).toBeGreaterThan(0);
    expect(rr.metrics.ess).toBeLessThanOrEqual(200);
    expect(rr.notes.join(' ')).toMatch(/importance-resampling refinement: 200 probability-flow ODE candidates/);
    expect(readNpyBatch(join(work, 'gir/samples.npy')).n).toBe(50);
    const few = tweedie('amortized', 'sample', '--model', 'g', '--n', '50', '--refine', '20', '--out', 'gir2');
    expect(few.code).toBe(2);
    expect(few.stderr).toMatch(/--refine 20 draws fewer candidates than the --n 50/);
    const sharded = tweedie('amortized', 'sample', '--model', 'g', '--n', '50', '--refine', '200', '--shard', '1/2', '--out', 'gir3');
    expect(sharded.code).toBe(2);
    expect(sharded.stderr).toMatch(/cannot be sharded/);
  });

  it('by default a reference pilot seeds the buffer and shapes the AIS base: stated in result.json, its evaluations counted', () => {
    const r = tweedie('amortized', 'train', '--target', 'gmm40-5d', ...TINY, '--epochs', '1', '--threads', '0', '--out', 'p5');
    expect(r.code, r.stderr).toBe(0);
    const res = result('p5');
    expect(res.config.referencePilot.gradientBudget).toBe(2e6);
    const training = 1 * 3 * 8 * 8 * 11;
    expect(res.metrics.targetEvaluations).toBeGreaterThan(training);
    expect(res.metrics.targetEvaluations).toBeLessThanOrEqual(training + 2e6);
    const note = res.notes.join(' ');
    expect(note).toMatch(/reference pilot: SMC on the target/);
    // GMM-40 5-D: coordinates 3-5 have std 1.31, the first two ~21-25; the pilot's widened scales show it.
    const scales = /scale \[([^\]]+)\]/.exec(note)![1].split(',').map(Number);
    expect(scales.slice(2).every((s) => s > 1.2 && s < 3)).toBe(true);
    expect(scales.slice(0, 2).every((s) => s > 20)).toBe(true);
  });

  it('trains on a user energy module (no references: the final EMA is the model); --engine jax is stated', () => {
    const r = tweedie('amortized', 'train', '--target', join(FIX, 'ring.mjs'), ...TINY, '--threads', '0', '--engine', 'jax', '--out', 'ring');
    expect(r.code, r.stderr).toBe(0);
    const notes = result('ring').notes.join(' ');
    expect(notes).toMatch(/no references/);
    expect(notes).toMatch(/drawn with the network on jax-js; training steps on jax-js/);
  });

  it('--replay-updates / --replay-capacity: the config records the replay and the notes state it; 0 turns it off', () => {
    const r = tweedie('amortized', 'train', '--target', 'gmm40', ...TINY, '--epochs', '1', '--threads', '0', '--no-reference-pilot', '--replay-updates', '3', '--replay-capacity', '20', '--out', 'rp');
    expect(r.code, r.stderr).toBe(0);
    const res = result('rp');
    expect(res.config.targetReplay).toEqual({ capacity: 20, updates: 3 });
    expect(res.notes.join(' ')).toMatch(/target replay: 3 Adam steps per iteration on batches of 8 drawn from the last 20 regression targets/);
    const off = tweedie('amortized', 'train', '--target', 'gmm40', ...TINY, '--epochs', '1', '--threads', '0', '--no-reference-pilot', '--replay-updates', '0', '--out', 'rp0');
    expect(off.code, off.stderr).toBe(0);
    expect(result('rp0').config.targetReplay).toBeUndefined();
    expect(result('rp0').notes.join(' ')).not.toMatch(/target replay/);
  });

  it('an energy that is NaN in part of the space: proposals there are rejected and counted, the samples are finite', () => {
    const r = tweedie('amortized', 'train', '--target', join(FIX, 'nan-left.mjs'), ...TINY, '--threads', '0', '--out', 'nan');
    expect(r.code, r.stderr).toBe(0);
    const res = result('nan');
    expect(res.metrics.nonFiniteProposals).toBeGreaterThan(0);
    expect(res.notes.join(' ')).toMatch(/MCMC proposals rejected/);
    const s = readNpyBatch(join(work, 'nan/samples.npy'));
    expect(s.data.every(Number.isFinite)).toBe(true);
  });

  it('bad input: exit 2 and one message naming the problem', () => {
    const cases: [string[], RegExp][] = [
      [['--target', 'gmm41'], /unknown target 'gmm41'.*gmm40/],
      [['--target', join(FIX, 'no-dim.mjs')], /must export its dimension/],
      [['--target', join(FIX, 'wrong-shape.mjs')], /shape/],
      [['--target', 'missing.mjs'], /not found/],
      [['--target', 'gmm40', '--posterior', 'mcmc'], /posterior/],
      [['--target', 'gmm40', '--engine', 'tpu'], /--engine/],
      [['--target', 'dw4', '--preset', 'paper'], /--preset paper covers GMM-40/],
      [['--target', 'gmm40', '--resume', '--out', 'nothing-here'], /no checkpoint\.safetensors/],
      [['--target', 'gmm40', '--posterior', 'hmc', '--bridges', '3'], /--bridges/],
      [['--target', 'gmm40', '--posterior', 'idem', '--step-size', '0.1'], /--step-size applies to --posterior ais or hmc/],
      [['--target', 'gmm40', '--lr-schedule', 'linear'], /--lr-schedule/],
      [['--target', 'gmm40', '--refine-steps', '5'], /add --estimate resample/],
      [['--target', 'gmm40', '--posterior', 'hmc', '--refine-steps', '5'], /apply to --posterior ais only/],
      [['--target', 'gmm40', '--replay-updates', '0', '--replay-capacity', '100'], /--replay-updates 0 turns off/],
      [['--target', 'gmm40', '--replay-capacity', '0'], /--replay-capacity/],
    ];
    for (const [args, msg] of cases) {
      const r = tweedie('amortized', 'train', ...args, '--quiet');
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(msg);
    }
    const s = tweedie('amortized', 'sample', '--model', 'nowhere');
    expect(s.code).toBe(2);
    expect(s.stderr).toMatch(/no model/);
  });
});

describe('energy modules', () => {
  it('loads logDensity(x, np) with its autodiff gradient (ring: grad = -4 (|x| - 3) x / |x|)', async () => {
    const t = await loadEnergyModule(join(FIX, 'ring.mjs'));
    expect(t.dim).toBe(2);
    const x = makeBatch(3, 2, [1, 0, 0, 5, 3, 4]);
    const r = t.logDensityAndGrad(x);
    for (let i = 0; i < 3; i++) {
      const a = x.data[2 * i];
      const b = x.data[2 * i + 1];
      const n = Math.hypot(a, b);
      expect(r.value[i]).toBeCloseTo(-2 * (n - 3) ** 2, 4);
      expect(r.grad.data[2 * i]).toBeCloseTo((-4 * (n - 3) * a) / n, 4);
      expect(r.grad.data[2 * i + 1]).toBeCloseTo((-4 * (n - 3) * b) / n, 4);
    }
    expect(() => t.logDensity(makeBatch(1, 3))).toThrow(/dimension 3/);
  });
});
