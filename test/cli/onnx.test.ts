/**
 * `tweedie export` and `--model model.onnx` for `sample` and `issgm`, in process (the commands
 * registered on a fresh program, so no build is needed), at tiny sizes; the same samples from the
 * checkpoint and from its ONNX export on either backend (float32 tolerance); and every bad input
 * ending in one InputError that names the problem (not ONNX, no or bad sidecar, shape, rank,
 * fixed batch, an op the engine lacks).
 */
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { TensorProto_DataType } from 'onnx-buf';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { onnxRuntimeAvailable } from '../../src/core/onnx-runtime.js';
import { registerExport } from '../../src/cli/commands/export.js';
import { registerIssgm } from '../../src/cli/commands/issgm.js';
import { registerSample } from '../../src/cli/commands/sample.js';
import { isInputError } from '../../src/io/errors.js';
import { readNpyBatch } from '../../src/io/npy.js';
import { graphBytes } from '../io/onnx-graphs.js';

const ROOT = resolve(import.meta.dirname, '../..');
const SPIRALS = join(ROOT, 'data/2spirals-model.safetensors');
const work = mkdtempSync(join(tmpdir(), 'tweedie-onnx-cli-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const hasOrt = onnxRuntimeAvailable();

async function tweedie(...args: string[]): Promise<string> {
  const program = new Command('tweedie').exitOverride();
  registerSample(program);
  registerIssgm(program);
  registerExport(program);
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
    out += String(s);
    return true;
  });
  try {
    await program.parseAsync(args, { from: 'user' });
  } finally {
    spy.mockRestore();
  }
  return out;
}

async function inputError(args: string[], re: RegExp): Promise<void> {
  try {
    await tweedie(...args);
  } catch (e) {
    expect(isInputError(e), String((e as Error).stack)).toBe(true);
    expect((e as Error).message).toMatch(re);
    return;
  }
  throw new Error(`expected an input error from ${args.join(' ')}`);
}

const at = (name: string) => join(work, name);
const SPIRALS_ONNX = at('spirals.onnx');

beforeAll(async () => {
  const out = await tweedie('export', '--model', SPIRALS, '--out', SPIRALS_ONNX);
  expect(out).toMatch(/wrote .*spirals\.onnx \(MLP of step \d+, noise parametrisation, vp schedule\)/);
  expect(out).toMatch(/checked: (onnxruntime|jax) reproduces the network/);
});

describe('tweedie export', () => {
  it('writes the ONNX file and its sidecar', () => {
    expect(existsSync(SPIRALS_ONNX)).toBe(true);
    const side = JSON.parse(readFileSync(`${SPIRALS_ONNX}.json`, 'utf8'));
    expect(side).toMatchObject({ format: 'tweedie-onnx-score', dim: 2, parametrisation: 'noise', time: 'continuous', schedule: { kind: 'vp' }, data: { source: '2spirals' } });
  });

  it('rejects an --out that is not .onnx, and a model that is not there', async () => {
    await inputError(['export', '--model', SPIRALS, '--out', at('x.bin')], /--out must name a \.onnx file/);
    await inputError(['export', '--model', at('nowhere'), '--out', at('x.onnx')], /no model at/);
  });
});

describe('--model model.onnx', () => {
  const args = ['--n', '400', '--steps', '40', '--seed', '3', '--quiet', '--no-plot'];

  it('sample: the ONNX export gives the checkpoint\'s samples (float32 tolerance), on each backend', async () => {
    // The reference: the checkpoint on its compiled jax-js network (the default engine is auto:
    // onnxruntime when installed).
    await tweedie('sample', '--model', SPIRALS, ...args, '--engine', 'jax', '--out', at('s-ckpt'));
    const ref = readNpyBatch(at('s-ckpt/samples.npy'));
    for (const backend of ['jax', ...(hasOrt ? ['onnxruntime'] : [])]) {
      const out = await tweedie('sample', '--model', SPIRALS_ONNX, ...args, '--engine', backend, '--out', at(`s-${backend}`));
      expect(out).toMatch(/wrote 400 x 2 model samples/);
      expect(out).toMatch(/jsd/); // metrics against the sidecar's data source
      const got = readNpyBatch(at(`s-${backend}/samples.npy`));
      // Same keys, float32 networks differing by ~1e-6 per call, 40 Euler-Maruyama steps: measured
      // max 8e-6 (jax-js) and 7e-6 (onnxruntime).
      let worst = 0;
      for (let i = 0; i < got.data.length; i++) worst = Math.max(worst, Math.abs(got.data[i] - ref.data[i]));
      expect(worst, backend).toBeLessThan(2e-4);
      const res = JSON.parse(readFileSync(at(`s-${backend}/result.json`), 'utf8'));
      expect(res.config.onnx).toMatchObject({ backend, ops: ['Mul', 'Sin', 'Cos', 'Concat', 'Gemm', 'Sigmoid'] });
    }
  });

  it.skipIf(!hasOrt)('sample --engine onnxruntime runs a checkpoint through its in-memory export, same samples', async () => {
    const ref = readNpyBatch(at('s-ckpt/samples.npy'));
    await tweedie('sample', '--model', SPIRALS, ...args, '--engine', 'onnxruntime', '--ort-threads', '1', '--out', at('s-ckpt-ort'));
    const got = readNpyBatch(at('s-ckpt-ort/samples.npy'));
    let worst = 0;
    for (let i = 0; i < got.data.length; i++) worst = Math.max(worst, Math.abs(got.data[i] - ref.data[i]));
    expect(worst).toBeLessThan(2e-4);
    expect(JSON.parse(readFileSync(at('s-ckpt-ort/result.json'), 'utf8')).config.engine).toBe('onnxruntime');
    expect(JSON.parse(readFileSync(at('s-ckpt/result.json'), 'utf8')).config.engine).toBe('jax');
  });

  it('sample: the ancestral sampler and a sidecar without a data source (no metrics)', async () => {
    const path = at('nosource.onnx');
    copyFileSync(SPIRALS_ONNX, path);
    const side = JSON.parse(readFileSync(`${SPIRALS_ONNX}.json`, 'utf8'));
    delete side.data.source;
    writeFileSync(`${path}.json`, JSON.stringify(side));
    const out = await tweedie('sample', '--model', path, '--sampler', 'ancestral', '--n', '200', '--steps', '200', '--quiet', '--no-plot', '--out', at('s-anc'));
    expect(out).toMatch(/wrote 200 x 2 model samples/);
    expect(out).not.toMatch(/jsd/);
  });

  it('issgm runs on an ONNX model', async () => {
    const out = await tweedie('issgm', '--model', SPIRALS_ONNX, '--weight', 'tilt:1,0', '--n', '300', '--steps', '30', '--panel-times', '0', '--quiet', '--out', at('i'));
    expect(out).toMatch(/ISSGM with l = tilt:1,0 on ONNX network/);
    const res = JSON.parse(readFileSync(at('i/result.json'), 'utf8'));
    expect(Number.isFinite(res.metrics.E_q_l_issgm)).toBe(true);
  });
});

const SIDECAR = { format: 'tweedie-onnx-score', version: 1, dim: 2, parametrisation: 'score', time: 'continuous', schedule: { kind: 'vp', betaMin: 0.1, betaMax: 20 } };

/** Write a model and its sidecar (`null`: none). */
function write(name: string, bytes: Uint8Array | string, sidecar: unknown = SIDECAR): string {
  const path = at(name);
  writeFileSync(path, bytes);
  if (sidecar !== null) writeFileSync(`${path}.json`, typeof sidecar === 'string' ? sidecar : JSON.stringify(sidecar));
  return path;
}

describe('bad ONNX input: one InputError naming the problem', () => {
  const sample = (path: string, ...extra: string[]) => ['sample', '--model', path, '--n', '10', '--steps', '5', '--quiet', '--no-plot', '--out', at('bad'), ...extra];

  it('a working one-op graph passes (the fixtures below differ from it in one thing)', async () => {
    const out = await tweedie(...sample(write('ok.onnx', graphBytes({}))));
    expect(out).toMatch(/wrote 10 x 2 model samples/);
  });

  it('not an ONNX file', async () => {
    await inputError(sample(write('text.onnx', 'hello, I am not a model\n')), /text\.onnx is not an ONNX model/);
    await inputError(sample(write('empty.onnx', new Uint8Array(0))), /empty\.onnx is not an ONNX model/);
  });

  it('missing or bad sidecar', async () => {
    await inputError(sample(write('noside.onnx', graphBytes({}), null)), /no sidecar .*noside\.onnx\.json/);
    await inputError(sample(write('badjson.onnx', graphBytes({}), '{ nope')), /badjson\.onnx\.json: not valid JSON/);
    await inputError(sample(write('badparam.onnx', graphBytes({}), { ...SIDECAR, parametrisation: 'velocity' })), /"parametrisation" must be "noise", "mean" or "score", got "velocity"/);
    await inputError(sample(write('badtime.onnx', graphBytes({}), { ...SIDECAR, time: 'seconds' })), /"time" must be one of "continuous", "ddpm-index"/);
    await inputError(sample(write('badsched.onnx', graphBytes({}), { ...SIDECAR, schedule: { kind: 'vp', betaMin: 20, betaMax: 0.1 } })), /"vp" schedule needs 0 < betaMin <= betaMax/);
  });

  it('wrong input shape or rank, fixed batch, wrong names, non-float inputs', async () => {
    await inputError(sample(write('dim3.onnx', graphBytes({ xDims: ['n', 3] }))), /input 'x' has shape \[n, 3\], but x must be \[n, 2\]/);
    await inputError(sample(write('rank3.onnx', graphBytes({ xDims: ['n', 2, 1] }))), /input 'x' has shape \[n, 2, 1\], but x must be \[n, 2\]/);
    await inputError(sample(write('trank.onnx', graphBytes({ tDims: ['n', 4] }))), /input 't' has shape \[n, 4\], but t must be \[n, 1\] or \[n\]/);
    await inputError(sample(write('fixed.onnx', graphBytes({ xDims: [1, 2] }))), /input 'x' has a fixed batch size, shape \[1, 2\].*dynamic_axes/);
    await inputError(sample(write('names.onnx', graphBytes({}), { ...SIDECAR, inputs: { x: 'input' } })), /no input 'input' for x \(its inputs: 'x' \[n, 2\], 't' \[n, 1\]\)/);
    await inputError(sample(write('int.onnx', graphBytes({ xType: TensorProto_DataType.INT64 }))), /input 'x' is INT64; score networks take float32 inputs/);
    await inputError(sample(write('out.onnx', graphBytes({ outDims: ['n', 3] }))), /output 'out' has shape \[n, 3\], but a score network returns \[n, 2\]/);
  });

  it('an op the engine lacks is named', async () => {
    // Hardmax: standard ONNX, run by onnxruntime, absent from @jax-js/onnx 0.1.2.
    await inputError(sample(write('hardmax.onnx', graphBytes({ op: 'Hardmax' })), '--engine', 'jax'), /op 'Hardmax' is not supported by the jax engine/);
    if (hasOrt) await inputError(sample(write('nosuch.onnx', graphBytes({ op: 'NoSuchOp' })), '--engine', 'onnxruntime'), /op 'NoSuchOp' is not supported by the onnxruntime engine/);
  });
});
