/**
 * `tweedie train` and `tweedie sample --model` end to end: a run killed with SIGKILL and resumed
 * ends with exactly the weights of an uninterrupted run; bad input exits 2 and never overwrites
 * a good checkpoint.
 */
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fromRows } from '../../src/core/batch.js';
import { writeNpy, readNpyBatch } from '../../src/io/npy.js';
import { onnxRuntimeAvailable } from '../../src/core/onnx-runtime.js';
import { encodeSafetensors, parseSafetensors, readSafetensors } from '../../src/io/safetensors.js';

const ROOT = resolve(import.meta.dirname, '../..');
const CLI = join(ROOT, 'dist/cli/main.js');
const work = mkdtempSync(join(tmpdir(), 'tweedie-train-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function tweedie(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: work, encoding: 'utf8', timeout: 300_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const STEPS = 1500;
const RUN = ['train', '--data', '8gaussians', '--steps', String(STEPS), '--batch', '32', '--hidden', '32', '--checkpoint-every', '50', '--eval-samples', '0', '--seed', '7', '--quiet'];

function checkpointStep(dir: string): number {
  const path = join(work, dir, 'checkpoint.safetensors');
  if (!existsSync(path)) return -1;
  try {
    return Number(readSafetensors(path).metadata.tweedie_step);
  } catch {
    return -1; // never expected: writes are atomic (the test below asserts the file always parses)
  }
}

describe('tweedie train: checkpoints that resume exactly', () => {
  it('a run killed with SIGKILL and resumed ends with the weights of an uninterrupted run', async () => {
    const straight = tweedie(...RUN, '--out', 'straight');
    expect(straight.code, straight.stderr).toBe(0);

    const child = spawn(process.execPath, [CLI, ...RUN, '--out', 'killed'], { cwd: work, stdio: 'ignore' });
    const killedAt = await new Promise<number>((done, fail) => {
      const poll = setInterval(() => {
        const s = checkpointStep('killed');
        if (s >= 100) {
          child.kill('SIGKILL');
          clearInterval(poll);
          done(s);
        }
      }, 5);
      child.on('exit', () => { clearInterval(poll); fail(new Error('the run ended before it could be killed')); });
    });
    await new Promise((r) => child.on('exit', r));
    const stepAfterKill = checkpointStep('killed');
    expect(stepAfterKill).toBeGreaterThanOrEqual(killedAt);
    expect(stepAfterKill).toBeLessThan(STEPS); // it really was interrupted

    const resumed = tweedie(...RUN, '--out', 'killed', '--resume');
    expect(resumed.code, resumed.stderr).toBe(0);
    const a = readSafetensors(join(work, 'straight/checkpoint.safetensors'));
    const b = readSafetensors(join(work, 'killed/checkpoint.safetensors'));
    expect(b.metadata.tweedie_step).toBe(String(STEPS));
    expect(Object.keys(b.tensors).sort()).toEqual(Object.keys(a.tensors).sort());
    for (const name of Object.keys(a.tensors)) expect(b.tensors[name].data, name).toEqual(a.tensors[name].data);
    expect(readFileSync(join(work, 'killed/model.safetensors')).equals(readFileSync(join(work, 'straight/model.safetensors')))).toBe(true);
    const res = JSON.parse(readFileSync(join(work, 'killed/result.json'), 'utf8'));
    expect(res.config.resumedFrom).toBe(stepAfterKill);
  });

  it('sample --model draws from the trained model and reports metrics against the data with the floor', () => {
    const r = tweedie('sample', '--model', 'straight', '--n', '300', '--steps', '50', '--out', 'ms', '--quiet');
    expect(r.code, r.stderr).toBe(0);
    const x = readNpyBatch(join(work, 'ms/samples.npy'));
    expect([x.n, x.dim]).toEqual([300, 2]);
    const res = JSON.parse(readFileSync(join(work, 'ms/result.json'), 'utf8'));
    expect(Number.isFinite(res.metrics.w2) && Number.isFinite(res.floor.w2)).toBe(true);
    for (const [sampler, steps] of [['ancestral', '100'], ['ode', '20']]) {
      const s = tweedie('sample', '--model', 'straight', '--n', '50', '--steps', steps, '--sampler', sampler, '--out', `ms-${sampler}`, '--quiet', '--no-plot');
      expect(s.code, s.stderr).toBe(0);
    }
    const few = tweedie('sample', '--model', 'straight', '--n', '50', '--steps', '20', '--sampler', 'ancestral', '--out', 'ms-few');
    expect(few.code).toBe(2);
    expect(few.stderr).toMatch(/needs steps >= 100/);
  });
});

describe('tweedie train --engine', () => {
  it('trains on onnxruntime by default (when installed) and on jax-js with --engine jax, to the same weights within float32 rounding', () => {
    const tiny = ['train', '--data', '8gaussians', '--steps', '100', '--batch', '16', '--hidden', '16', '--depth', '2', '--eval-samples', '0', '--seed', '3', '--quiet'];
    const auto = tweedie(...tiny, '--out', 'engine-auto');
    const jax = tweedie(...tiny, '--out', 'engine-jax', '--engine', 'jax');
    expect(auto.code, auto.stderr).toBe(0);
    expect(jax.code, jax.stderr).toBe(0);
    const cfgOf = (dir: string) => JSON.parse(readFileSync(join(work, dir, 'result.json'), 'utf8')).config;
    expect(cfgOf('engine-auto').engine).toBe(onnxRuntimeAvailable() ? 'onnxruntime' : 'jax');
    expect(cfgOf('engine-jax').engine).toBe('jax');
    const a = readSafetensors(join(work, 'engine-auto/model.safetensors')).tensors;
    const b = readSafetensors(join(work, 'engine-jax/model.safetensors')).tensors;
    for (const name of Object.keys(b)) {
      let d = 0;
      for (let i = 0; i < b[name].data.length; i++) d = Math.max(d, Math.abs(a[name].data[i] - b[name].data[i]));
      expect(d, name).toBeLessThan(1e-4); // 100 steps at lr <= 3e-3: a coordinate moves up to ~0.3
    }
    expect(tweedie(...tiny, '--out', 'engine-bad', '--engine', 'cuda').code).toBe(2);
  });
});

describe('tweedie train: bad input exits 2 and keeps the good checkpoint', () => {
  const good = () => readFileSync(join(work, 'straight/checkpoint.safetensors'));
  it('refuses to start over an existing checkpoint without --resume', () => {
    const before = good();
    const r = tweedie(...RUN, '--out', 'straight');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/already holds a checkpoint.*--resume/);
    expect(good().equals(before)).toBe(true);
  });
  it('refuses to resume with other data, or where there is no checkpoint', () => {
    const r = tweedie('train', '--data', 'moons', '--out', 'straight', '--resume');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/differs from the checkpoint's data '8gaussians'/);
    const none = tweedie('train', '--data', 'moons', '--out', 'nothing-here', '--resume');
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/no checkpoint\.safetensors to resume/);
  });
  it('rejects a truncated checkpoint and one whose config does not match its weights', () => {
    mkdirSync(join(work, 'trunc'));
    const bytes = good();
    writeFileSync(join(work, 'trunc/checkpoint.safetensors'), bytes.subarray(0, bytes.length - 100));
    const t = tweedie(...RUN, '--out', 'trunc', '--resume');
    expect(t.code).toBe(2);
    expect(t.stderr).toMatch(/trunc\/checkpoint\.safetensors/);

    const { tensors, metadata } = parseSafetensors(bytes);
    const run = JSON.parse(metadata.tweedie_run);
    run.model.network.hidden = 64; // the weights are 32 wide
    mkdirSync(join(work, 'mismatch'));
    writeFileSync(join(work, 'mismatch/checkpoint.safetensors'), encodeSafetensors(tensors, { ...metadata, tweedie_run: JSON.stringify(run) }));
    const m = tweedie(...RUN, '--out', 'mismatch', '--resume');
    expect(m.code).toBe(2);
    expect(m.stderr).toMatch(/does not match the weights/);
  });
  it('rejects bad data: NaN rows, an empty file, data whose dimension changed, a missing model', () => {
    writeNpy(join(work, 'nan.npy'), fromRows([[0, 1], [NaN, 2], [1, 1]]));
    const n = tweedie('train', '--data', 'nan.npy', '--steps', '5', '--out', 'bad1');
    expect(n.code).toBe(2);
    expect(n.stderr).toMatch(/nan\.npy.*row 1/);
    writeFileSync(join(work, 'empty.npy'), '');
    const e = tweedie('train', '--data', 'empty.npy', '--steps', '5', '--out', 'bad2');
    expect(e.code).toBe(2);
    expect(e.stderr).toMatch(/empty\.npy/);
    writeNpy(join(work, 'two.npy'), fromRows([[0, 1], [1, 2], [2, 0]]));
    const fresh = tweedie('train', '--data', 'two.npy', '--steps', '5', '--batch', '4', '--hidden', '8', '--eval-samples', '0', '--out', 'bad3');
    expect(fresh.code, fresh.stderr).toBe(0);
    writeNpy(join(work, 'two.npy'), fromRows([[0, 1, 2], [1, 2, 3]])); // the file changed under the run
    const w = tweedie('train', '--data', 'two.npy', '--steps', '10', '--out', 'bad3', '--resume');
    expect(w.code).toBe(2);
    expect(w.stderr).toMatch(/dimension 3 but the checkpoint was trained on 2/);
    const s = tweedie('sample', '--model', 'nothing', '--n', '5', '--out', 'bad4');
    expect(s.code).toBe(2);
    expect(s.stderr).toMatch(/no model at/);
  });
});
