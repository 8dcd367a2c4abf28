/**
 * ONNX networks as ISSGM weights (`--weight FILE.onnx:class=K|recon|log`, `io/onnx-weight.ts`):
 * values and gradients of `log l` against PyTorch's own (torch.autograd on the same float32
 * weights, `test/fixtures/onnx-weight/make_fixture.py`; no Python here), ISSGM with a 64-D
 * classifier weight against the same sampler with a float64 hand-written copy of the classifier,
 * the CLI end to end, and every bad input with its one message.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  GraphProtoSchema, ModelProtoSchema, NodeProtoSchema, OperatorSetIdProtoSchema, TensorProto_DataType, TensorShapeProto_DimensionSchema,
  TensorShapeProtoSchema, TypeProto_TensorSchema, TypeProtoSchema, ValueInfoProtoSchema,
} from 'onnx-buf';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Batch } from '../../src/core/batch.js';
import { keyFromSeed, split } from '../../src/core/key.js';
import type { LogWeight } from '../../src/core/types.js';
import { VPSDE } from '../../src/diffusion/vp.js';
import { InputError } from '../../src/io/errors.js';
import { isOnnxWeightSpec, loadOnnxWeight, parseOnnxWeightSpec } from '../../src/io/onnx-weight.js';
import { sampleIssgm } from '../../src/issgm/sampler.js';
import { applyFloor, FloorStatus } from '../../src/issgm/weights.js';
import { Gaussian } from '../../src/targets/gaussian.js';

const ROOT = resolve(import.meta.dirname, '../..');
const FIX = join(ROOT, 'test/fixtures/onnx-weight');
const CLI = join(ROOT, 'dist/cli/main.js');
const work = mkdtempSync(join(tmpdir(), 'tweedie-onnx-weight-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Case { spec: string; logl: number[]; grad: number[] }
interface Expected { x: { n: number; dim: number; data: number[] }; x2: { n: number; dim: number; data: number[] }; cases: Record<string, Case> }
const expected = JSON.parse(readFileSync(join(FIX, 'expected.json'), 'utf8')) as Expected;
/** The fixture's inputs rounded to float32, exactly what torch saw. */
const batchOf = (b: Expected['x']): Batch => ({ n: b.n, dim: b.dim, data: Float64Array.from(Float32Array.from(b.data)) });
const X = batchOf(expected.x);
const X2 = batchOf(expected.x2);
const fix = (spec: string): string => join(FIX, spec);

/**
 * Node vs torch, both float32: values to 1e-5 relative (measured 1e-6: float32 sums of 64 and 32
 * terms in a different order), gradients to 1e-5 of the row's largest component (measured 2e-7)
 * plus 1e-7 absolute (tanh saturated on the far-out row: torch's gradient is exactly 0 there).
 */
function expectMatchesTorch(w: LogWeight, x: Batch, c: Case): void {
  const r = w.valueAndGrad(x);
  expect(r.grad.n).toBe(x.n);
  for (let i = 0; i < x.n; i++) {
    expect(Math.abs(r.value[i] - c.logl[i]), `log l row ${i}`).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(c.logl[i])));
    let scale = 0;
    for (let j = 0; j < x.dim; j++) scale = Math.max(scale, Math.abs(c.grad[i * x.dim + j]));
    for (let j = 0; j < x.dim; j++) {
      const k = i * x.dim + j;
      expect(Math.abs(r.grad.data[k] - c.grad[k]), `grad row ${i} coord ${j}`).toBeLessThanOrEqual(1e-5 * scale + 1e-7);
    }
  }
}

describe('--weight FILE.onnx specs', () => {
  it('parses class=K, recon, log (the default) and output=NAME', () => {
    expect(parseOnnxWeightSpec('c.onnx:class=3')).toEqual({ path: 'c.onnx', mode: { kind: 'class', index: 3 } });
    expect(parseOnnxWeightSpec('dir/ae.onnx:recon')).toEqual({ path: 'dir/ae.onnx', mode: { kind: 'recon' } });
    expect(parseOnnxWeightSpec('r.onnx')).toEqual({ path: 'r.onnx', mode: { kind: 'log' } });
    expect(parseOnnxWeightSpec('r.onnx:log')).toEqual({ path: 'r.onnx', mode: { kind: 'log' } });
    expect(parseOnnxWeightSpec('c.onnx:class=0, output=logits')).toEqual({ path: 'c.onnx', mode: { kind: 'class', index: 0 }, output: 'logits' });
    expect(isOnnxWeightSpec('c.onnx:class=3')).toBe(true);
    expect(isOnnxWeightSpec('C.ONNX')).toBe(true);
    expect(isOnnxWeightSpec('norm2')).toBe(false);
    expect(isOnnxWeightSpec('w.mjs')).toBe(false);
  });
  it.each([
    ['c.onnx:class=-1', /class must be a class index/],
    ['c.onnx:class=two', /class must be a class index/],
    ['c.onnx:class', /class must be a class index/],
    ['c.onnx:recon,class=1', /more than one mode/],
    ['c.onnx:probability', /unknown option 'probability'.*class=K.*recon.*log/],
  ])('%s: an InputError naming the forms', (spec, msg) => {
    expect(() => parseOnnxWeightSpec(spec)).toThrow(InputError);
    expect(() => parseOnnxWeightSpec(spec)).toThrow(msg);
  });
});

describe('ONNX weights match PyTorch (values and torch.autograd gradients of log l)', () => {
  it('classifier logits, class=3: log_softmax(logits)[3]', async () => {
    const c = expected.cases.classifier;
    const w = await loadOnnxWeight(fix(c.spec), { dim: 64 });
    expect([w.mode, w.input, w.output, w.softmaxRewritten]).toEqual([{ kind: 'class', index: 3 }, 'x', 'logits', false]);
    expectMatchesTorch(w, X, c);
    w.dispose();
  });

  it('a classifier ending in Softmax: its Softmax runs as LogSoftmax, finite where the probability underflows float32', async () => {
    // The far-out row has log p = -160: exp(-160) is below float32's smallest subnormal (1.4e-45,
    // log -103.3), so log(softmax) would be -Infinity there with a NaN gradient.
    const c = expected.cases.classifier;
    expect(c.logl[X.n - 1]).toBeLessThan(-104);
    const w = await loadOnnxWeight(fix('classifier_softmax.onnx:class=3'), { dim: 64 });
    expect(w.softmaxRewritten).toBe(true);
    expect(w.output).toBe('probs');
    expectMatchesTorch(w, X, c);
    w.dispose();
  });

  it('autoencoder, recon: log |AE(x) - x|^2, gradient through AE and x', async () => {
    const c = expected.cases.autoencoder;
    const w = await loadOnnxWeight(fix(c.spec), { dim: 64 });
    expectMatchesTorch(w, X, c);
  });

  it('a network returning log l [n, 1] (log)', async () => {
    const c = expected.cases.logratio;
    const w = await loadOnnxWeight(fix(c.spec), { dim: 64 });
    expectMatchesTorch(w, X, c);
    // FILE.onnx alone is the same as FILE.onnx:log.
    const w2 = await loadOnnxWeight(fix('logratio.onnx'), { dim: 64 });
    expect(Array.from(w2.value(X))).toEqual(Array.from(w.value(X)));
  });

  it('2-D classifier (the CLI fixture)', async () => {
    const c = expected.cases.classifier2d;
    expectMatchesTorch(await loadOnnxWeight(fix(c.spec), { dim: 2 }), X2, c);
  });

  it('value() agrees with valueAndGrad(); chunked and padded batches give the same rows', async () => {
    const w = await loadOnnxWeight(fix('autoencoder.onnx:recon'), { dim: 64 });
    const small = await loadOnnxWeight(fix('autoencoder.onnx:recon'), { dim: 64, chunk: 4 }); // 6 rows: 4 + 2 (padded to 4)
    const a = w.valueAndGrad(X);
    const b = small.valueAndGrad(X);
    const v = small.value(X);
    for (let i = 0; i < X.n; i++) {
      const tol = 1e-6 * (1 + Math.abs(a.value[i]));
      expect(Math.abs(b.value[i] - a.value[i])).toBeLessThanOrEqual(tol);
      expect(Math.abs(v[i] - a.value[i])).toBeLessThanOrEqual(tol);
      expect(Math.abs(w.value(X)[i] - a.value[i])).toBeLessThanOrEqual(tol);
    }
    for (let k = 0; k < a.grad.data.length; k++) expect(Math.abs(b.grad.data[k] - a.grad.data[k])).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(a.grad.data[k])));
    expect(w.value({ n: 0, dim: 64, data: new Float64Array(0) })).toHaveLength(0);
    expect(() => w.value({ n: 1, dim: 2, data: new Float64Array(2) })).toThrow(/dimension 2.*dimension 64/);
  });
});

// ---------------------------------------------------------------------------------------------
// ISSGM with the 64-D classifier weight.
// ---------------------------------------------------------------------------------------------

/**
 * The fixture classifier (Gemm(transB) -> Relu -> Gemm) re-implemented in float64 from the ONNX
 * file's own initializers, with its analytic gradient: an independent `LogWeight` to run ISSGM
 * against. `log l = z_K - logsumexp(z)`, `grad = W1^T [(z1 > 0) * W2^T (e_K - softmax(z))]`.
 */
function referenceClassifier(path: string, K: number): LogWeight {
  const model = fromBinary(ModelProtoSchema, readFileSync(path));
  const t = new Map(model.graph!.initializer.map((i) => {
    const raw = i.rawData;
    return [i.name, Float64Array.from(new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength)))];
  }));
  const gemms = model.graph!.node.filter((n) => n.opType === 'Gemm');
  expect(model.graph!.node.map((n) => n.opType)).toEqual(['Gemm', 'Relu', 'Gemm']);
  const [W1, b1, W2, b2] = [t.get(gemms[0].input[1])!, t.get(gemms[0].input[2])!, t.get(gemms[1].input[1])!, t.get(gemms[1].input[2])!];
  const D = 64, H = b1.length, C = b2.length;
  const valueAndGrad = (x: Batch) => {
    const value = new Float64Array(x.n);
    const grad = new Float64Array(x.n * D);
    const z1 = new Float64Array(H), z2 = new Float64Array(C), dh = new Float64Array(H);
    for (let i = 0; i < x.n; i++) {
      for (let h = 0; h < H; h++) {
        let s = b1[h];
        for (let d = 0; d < D; d++) s += W1[h * D + d] * x.data[i * D + d];
        z1[h] = s;
      }
      let mx = -Infinity;
      for (let c = 0; c < C; c++) {
        let s = b2[c];
        for (let h = 0; h < H; h++) s += W2[c * H + h] * Math.max(z1[h], 0);
        z2[c] = s;
        mx = Math.max(mx, s);
      }
      let se = 0;
      for (let c = 0; c < C; c++) se += Math.exp(z2[c] - mx);
      const lse = mx + Math.log(se);
      value[i] = z2[K] - lse;
      dh.fill(0);
      for (let c = 0; c < C; c++) {
        const dz = (c === K ? 1 : 0) - Math.exp(z2[c] - lse);
        for (let h = 0; h < H; h++) dh[h] += W2[c * H + h] * dz;
      }
      for (let h = 0; h < H; h++) {
        if (!(z1[h] > 0)) continue;
        for (let d = 0; d < D; d++) grad[i * D + d] += W1[h * D + d] * dh[h];
      }
    }
    return { value, grad: { n: x.n, dim: D, data: grad } };
  };
  return { dim: D, valueAndGrad, value: (x) => valueAndGrad(x).value };
}

describe('ISSGM with an ONNX classifier weight (64-D Gaussian p with its exact diffused score)', () => {
  const sde = new VPSDE({ betaMin: 0.1, betaMax: 20 });
  // p = N(0, 4 I): wide enough that the random-init classifier's class-3 probability varies (0.03..0.3).
  const p = new Gaussian(new Float64Array(64), { std: 2 });
  let onnx: LogWeight;
  let ref: LogWeight;
  beforeAll(async () => {
    onnx = await loadOnnxWeight(fix('classifier.onnx:class=3'), { dim: 64 });
    ref = referenceClassifier(fix('classifier.onnx'), 3);
  });

  it('the float64 reference reproduces torch (so it is the same function)', () => {
    expectMatchesTorch(ref, X, expected.cases.classifier);
  });

  it('runs, and gives the same samples as the reference weight (same key)', () => {
    const n = 256;
    const opts = { n, steps: 100 };
    const a = sampleIssgm(keyFromSeed(7), p.diffusedScore(sde), onnx, sde, opts);
    const b = sampleIssgm(keyFromSeed(7), p.diffusedScore(sde), ref, sde, opts);
    expect([a.samples.n, a.samples.dim]).toEqual([n, 64]);
    expect(a.diagnostics.floored + a.diagnostics.nonFinite).toBe(0);
    expect(a.diagnostics.warnings).toEqual([]);
    // Float32 (jax-js through the graph) vs float64 gradients along 100 steps: the samples differ by
    // float32 rounding only (the CLI's module-vs-built-in check uses the same 1e-3).
    let err = 0;
    for (let k = 0; k < a.samples.data.length; k++) err = Math.max(err, Math.abs(a.samples.data[k] - b.samples.data[k]));
    expect(err).toBeLessThan(1e-3);
  });

  it('moves mass towards class 3: E_q[l] (ISSGM) above E_p[l] (exact samples of p)', () => {
    // Exact: E_q[l] = E_p[l^2] / E_p[l] = 0.107 vs E_p[l] = 0.098 (20,000 exact samples; l's sd
    // ~0.03). At n = 1024 the standard error of the difference is ~0.001, so z ~ 9 (measured:
    // E_q[l] 0.1071, z 8.6; z 13 at n = 2048); asserted z > 4.5.
    const [kq, kp] = split(keyFromSeed(11), 2);
    const stats = (lv: Float64Array) => {
      let s = 0, s2 = 0;
      for (const v of lv) { s += Math.exp(v); s2 += Math.exp(2 * v); }
      const m = s / lv.length;
      return { m, v: (s2 / lv.length - m * m) / lv.length };
    };
    const q = stats(onnx.value(sampleIssgm(kq, p.diffusedScore(sde), onnx, sde, { n: 1024, steps: 100 }).samples));
    const pp = stats(onnx.value(p.sample(kp, 20_000)));
    expect((q.m - pp.m) / Math.sqrt(q.v + pp.v)).toBeGreaterThan(4.5);
  });
});

// ---------------------------------------------------------------------------------------------
// Bad input.
// ---------------------------------------------------------------------------------------------

type Dims = (number | string)[];
const vinfo = (name: string, dims: Dims) => create(ValueInfoProtoSchema, {
  name,
  type: create(TypeProtoSchema, {
    value: {
      case: 'tensorType',
      value: create(TypeProto_TensorSchema, {
        elemType: TensorProto_DataType.FLOAT,
        shape: create(TensorShapeProtoSchema, {
          dim: dims.map((d) => create(TensorShapeProto_DimensionSchema, { value: typeof d === 'number' ? { case: 'dimValue', value: BigInt(d) } : { case: 'dimParam', value: d } })),
        }),
      }),
    },
  }),
});
/** A chain of one-input ops x -> ... -> out, written to `work/name`. */
function chainGraph(name: string, ops: string[], xDims: Dims, outDims: Dims, extraOutput?: Dims): string {
  const node = ops.map((op, i) => create(NodeProtoSchema, { opType: op, input: [i === 0 ? 'x' : `h${i}`], output: [i === ops.length - 1 ? 'out' : `h${i + 1}`] }));
  if (extraOutput) node.push(create(NodeProtoSchema, { opType: 'Identity', input: ['x'], output: ['copy'] }));
  const graph = create(GraphProtoSchema, {
    name: 'g', node, input: [vinfo('x', xDims)], output: [vinfo('out', outDims), ...(extraOutput ? [vinfo('copy', extraOutput)] : [])],
  });
  const path = join(work, name);
  writeFileSync(path, toBinary(ModelProtoSchema, create(ModelProtoSchema, {
    irVersion: 8n, opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: 17n })], producerName: 'test', graph,
  })));
  return path;
}

describe('bad ONNX weights: one InputError naming the file and the problem', () => {
  const expectInputError = async (spec: string, dim: number, msg: RegExp): Promise<void> => {
    const e = await loadOnnxWeight(spec, { dim }).then(() => undefined, (err: unknown) => err);
    expect(e, `${spec} loaded`).toBeInstanceOf(InputError);
    expect((e as Error).message).toMatch(msg);
  };

  it('a file that is not an ONNX model, and a missing file', async () => {
    const path = join(work, 'notes.onnx');
    writeFileSync(path, 'these are not the weights you are looking for\n');
    await expectInputError(`${path}:class=1`, 2, /notes\.onnx is not an ONNX model/);
    await expectInputError(join(work, 'nowhere.onnx:class=1'), 2, /cannot read .*nowhere\.onnx: no such file/);
  });

  it('an input width other than the model dimension names both shapes', async () => {
    await expectInputError(fix('classifier.onnx:class=3'), 2, /input 'x' has shape \[n, 64\], but the model's points are x \[n, 2\]/);
  });

  it('a class out of range names the number of classes; symbolic class counts are caught by the trial run', async () => {
    await expectInputError(fix('classifier.onnx:class=10'), 64, /class=10 is out of range.*'logits' \[n, 10\] has 10 classes \(0\.\.9\)/);
    const sym = chainGraph('sym.onnx', ['Identity'], ['n', 2], ['n', 'C']);
    await expectInputError(`${sym}:class=5`, 2, /class=5 is out of range.*has 2 classes/);
  });

  it('an op the engine lacks: named, with the fix', async () => {
    const path = chainGraph('hardmax.onnx', ['Hardmax'], ['n', 2], ['n', 2]);
    await expectInputError(`${path}:class=0`, 2, /hardmax\.onnx: op 'Hardmax' is not supported by the jax-js engine.*re-export the network without 'Hardmax'/);
  });

  it('output shapes that do not fit the mode', async () => {
    await expectInputError(fix('classifier.onnx:recon'), 64, /output 'logits' has shape \[n, 10\], but recon needs \[n, 64\]/);
    await expectInputError(fix('classifier.onnx'), 64, /output 'logits' has shape \[n, 10\], but log needs \[n\] or \[n, 1\].*:class=K.*:recon/);
  });

  it('a fixed batch axis, several outputs, a final Sigmoid', async () => {
    await expectInputError(`${chainGraph('fixed.onnx', ['Identity'], [1, 2], [1, 2])}:class=0`, 2, /fixed batch size, shape \[1, 2\].*dynamic_axes/);
    const two = chainGraph('two.onnx', ['Identity'], ['n', 2], ['n', 2], ['n', 2]);
    await expectInputError(`${two}:class=0`, 2, /2 outputs .*'out' \[n, 2\], 'copy' \[n, 2\].*output=out/);
    const w = await loadOnnxWeight(`${two}:class=1,output=copy`, { dim: 2 });
    expect(w.output).toBe('copy');
    await expectInputError(`${chainGraph('sig.onnx', ['Sigmoid'], ['n', 2], ['n', 2])}:class=0`, 2, /comes from a Sigmoid.*takes logits/);
  });

  it('non-finite outputs are counted and reported by the floor, like every weight', async () => {
    // log l = log(x): NaN for x < 0, -Infinity at 0 (l = x itself, <= 0 there).
    const path = chainGraph('log.onnx', ['Log'], ['n', 1], ['n', 1]);
    const w = await loadOnnxWeight(`${path}:log`, { dim: 1 });
    const r = applyFloor(w.valueAndGrad({ n: 3, dim: 1, data: Float64Array.of(-1, 0, 2) }));
    expect(Array.from(r.status)).toEqual([FloorStatus.NonFinite, FloorStatus.Floored, FloorStatus.Ok]);
    expect(r.value[2]).toBeCloseTo(Math.log(2), 6);
    expect(r.grad.data[2]).toBeCloseTo(0.5, 6);
    const sde = new VPSDE({ betaMin: 0.1, betaMax: 20 });
    const p = new Gaussian([0], { std: 1 });
    const q = sampleIssgm(keyFromSeed(3), p.diffusedScore(sde), w, sde, { n: 200, steps: 20 });
    expect(q.diagnostics.nonFinite).toBeGreaterThan(0);
    expect(q.diagnostics.warnings.join('\n')).toMatch(/weight non-finite \(NaN or \+Infinity\) in \d+ of \d+ \(sample, step\) evaluations/);
    expect(q.samples.data.every(Number.isFinite)).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// The command line (needs dist/: `npm run build`).
// ---------------------------------------------------------------------------------------------

function tweedie(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: work, encoding: 'utf8', timeout: 300_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

describe('tweedie issgm --weight FILE.onnx:class=K', () => {
  it('runs with a classifier weight on an exact score and moves mass towards the class', () => {
    const spec = `${fix('classifier2d.onnx')}:class=1`;
    const r = tweedie('issgm', '--model', 'exact:8gaussians', '--weight', spec, '--n', '400', '--steps', '60', '--out', 'clf', '--quiet', '--panel-times', '0');
    expect(r.code, r.stderr).toBe(0);
    const res = JSON.parse(readFileSync(join(work, 'clf/result.json'), 'utf8'));
    expect(res.config.weight).toBe(spec);
    for (const k of ['jsd', 'w2', 'E_q_l_issgm', 'E_q_l_truth', 'E_p_l_exact']) expect(Number.isFinite(res.metrics[k]), k).toBe(true);
    // l is a probability: E_p[l] < E_q[l] (exact: E_p[l^2] / E_p[l] >= E_p[l]) and both <= 1.
    expect(res.metrics.E_q_l_truth).toBeGreaterThan(res.metrics.E_p_l_exact);
    expect(res.metrics.E_q_l_issgm).toBeGreaterThan(res.metrics.E_p_l_exact);
    expect(res.metrics.E_q_l_issgm).toBeLessThanOrEqual(1);
  });

  it('a class out of range: exit 2, one message', () => {
    const r = tweedie('issgm', '--model', 'exact:8gaussians', '--weight', `${fix('classifier2d.onnx')}:class=7`, '--n', '50', '--steps', '5', '--out', 'bad', '--quiet');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/class=7 is out of range.*3 classes/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
