/**
 * The EGNN score network: parameter layout and count, deterministic init, the compiled forward
 * against the float64 reference, E(n) x S_P equivariance (rotations, reflections, translations,
 * permutations) to float32 tolerance, a centre-of-mass-free output, and finite gradients when
 * particles coincide.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { makeBatch, type Batch } from '../../src/core/batch.js';
import { initEngine, jitTree, np, readF32, valueAndGrad, valueAndGradTree, type JaxArray } from '../../src/core/engine.js';
import { keyFromSeed, normal, normalBatch, permutation, uniform } from '../../src/core/key.js';
import {
  defaultEgnnConfig, egnnApply, egnnEngineParams, egnnForwardReference, egnnParamCount, egnnPredictor, egnnTensorSpecs,
  initEgnn, type EgnnConfig,
} from '../../src/models/egnn.js';
import type { EngineWeights } from '../../src/models/layers.js';
import type { Tensors } from '../../src/models/tensors.js';

beforeAll(async () => {
  await initEngine();
});

const dw4Small: EgnnConfig = { particles: 4, spaceDim: 2, hidden: 16, layers: 2, embDim: 8, activation: 'silu', output: 'position' };
const threeD: EgnnConfig = { particles: 5, spaceDim: 3, hidden: 12, layers: 3, embDim: 6, activation: 'silu', output: 'displacement' };

/**
 * Init with phi_x's last layer scaled up to the size of the other layers: at its EDM init (gain
 * 0.001) the coordinate updates are ~1e-4 and every check on them would pass trivially.
 */
function liveParams(seed: number, cfg: EgnnConfig): Tensors {
  const p = initEgnn(keyFromSeed(seed), cfg);
  for (const [name, v] of Object.entries(p)) if (name.endsWith('coord_mlp.2.weight')) for (let i = 0; i < v.data.length; i++) v.data[i] *= 2000;
  return p;
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** A random orthogonal s x s matrix (Gram-Schmidt of a Gaussian matrix), with det -1 when `reflect`. */
function randomOrthogonal(seed: number, s: number, reflect: boolean): number[][] {
  const g = normal(keyFromSeed(seed), s * s);
  const q: number[][] = [];
  for (let r = 0; r < s; r++) {
    const v = Array.from({ length: s }, (_, k) => g[r * s + k]);
    for (const u of q) {
      const dot = u.reduce((a, c, k) => a + c * v[k], 0);
      for (let k = 0; k < s; k++) v[k] -= dot * u[k];
    }
    const norm = Math.hypot(...v);
    q.push(v.map((c) => c / norm));
  }
  const det = s === 2 ? q[0][0] * q[1][1] - q[0][1] * q[1][0] : det3(q);
  if ((det < 0) !== reflect) q[0] = q[0].map((c) => -c);
  return q;
}

function det3(m: number[][]): number {
  return m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
}

/** g x: particle i of the result is `Q x_{perm[i]} + c` (c = 0 for outputs). */
function act(x: Batch, P: number, s: number, Q: number[][], perm: Int32Array, c: number[]): Batch {
  const out = new Float64Array(x.data.length);
  for (let r = 0; r < x.n; r++) {
    for (let i = 0; i < P; i++) {
      const src = r * x.dim + perm[i] * s;
      for (let a = 0; a < s; a++) {
        let v = c[a];
        for (let b = 0; b < s; b++) v += Q[a][b] * x.data[src + b];
        out[r * x.dim + i * s + a] = v;
      }
    }
  }
  return makeBatch(x.n, x.dim, out);
}

describe('EGNN parameters', () => {
  it('DW-4 default: 4 particles in 2-D, 3 layers x 128, SiLU; specs and parameter count', () => {
    const cfg = defaultEgnnConfig();
    expect(cfg).toMatchObject({ particles: 4, spaceDim: 2, hidden: 128, layers: 3, activation: 'silu', output: 'position' });
    const H = 128;
    const specs = egnnTensorSpecs(cfg);
    expect(specs.slice(0, 2)).toEqual([
      { name: 'embedding.weight', shape: [H, cfg.embDim] }, { name: 'embedding.bias', shape: [H] },
    ]);
    expect(specs.find((s) => s.name === 'layers.0.edge_mlp.0.weight')!.shape).toEqual([H, 2 * H + 1]);
    expect(specs.find((s) => s.name === 'layers.2.coord_mlp.2.weight')!.shape).toEqual([1, H]);
    expect(specs.some((s) => s.name === 'layers.2.coord_mlp.2.bias')).toBe(false);
    // The last layer has no node MLP (h^L is unused).
    expect(specs.some((s) => s.name.startsWith('layers.2.node_mlp'))).toBe(false);
    const embedding = cfg.embDim * H + H;
    const edge = (2 * H + 1) * H + H + H * H + H;
    const coord = H * H + H + H;
    const node = 2 * H * H + H + H * H + H;
    expect(egnnParamCount(cfg)).toBe(embedding + 3 * (edge + coord) + 2 * node);
    expect(egnnParamCount(cfg)).toBe(301_568);
    const init = initEgnn(keyFromSeed(0), cfg);
    expect(Object.keys(init)).toEqual(specs.map((s) => s.name));
    for (const s of specs) expect(init[s.name].data.length).toBe(s.shape.reduce((a, b) => a * b, 1));
  });

  it('init is deterministic from the key, within the PyTorch / EDM bounds, and differs between keys', () => {
    const a = initEgnn(keyFromSeed(7), dw4Small);
    const b = initEgnn(keyFromSeed(7), dw4Small);
    const c = initEgnn(keyFromSeed(8), dw4Small);
    const H = dw4Small.hidden;
    for (const [name, t] of Object.entries(a)) {
      expect(b[name].data).toEqual(t.data);
      expect(c[name].data).not.toEqual(t.data);
      const fanIn = name.startsWith('embedding') ? dw4Small.embDim : name.includes('edge_mlp.0') ? 2 * H + 1 : name.includes('node_mlp.0') ? 2 * H : H;
      const bound = name.endsWith('coord_mlp.2.weight') ? 0.001 * Math.sqrt(6 / (H + 1)) : 1 / Math.sqrt(fanIn);
      expect(maxAbs(t.data)).toBeLessThanOrEqual(bound);
      expect(maxAbs(t.data)).toBeGreaterThan(0.5 * bound);
    }
  });

  it('rejects bad configurations', () => {
    expect(() => egnnTensorSpecs({ ...dw4Small, particles: 1 })).toThrow(/particles/);
    expect(() => egnnTensorSpecs({ ...dw4Small, embDim: 5 })).toThrow(/even/);
    expect(() => egnnTensorSpecs({ ...dw4Small, layers: 0 })).toThrow(/layers/);
    expect(() => egnnTensorSpecs({ ...dw4Small, output: 'x0' as never })).toThrow(/output/);
  });
});

describe('compiled forward', () => {
  for (const cfg of [dw4Small, { ...dw4Small, output: 'displacement' as const }, threeD]) {
    it(`matches the float64 reference (P = ${cfg.particles}, s = ${cfg.spaceDim}, '${cfg.output}'), per-row and scalar t`, () => {
      const params = liveParams(1, cfg);
      const net = egnnPredictor(cfg, params);
      const D = cfg.particles * cfg.spaceDim;
      const x = normalBatch(keyFromSeed(2), 37, D);
      for (let k = 0; k < x.data.length; k++) x.data[k] *= 2;
      const t = uniform(keyFromSeed(3), 37, 0.001, 1);
      const want = egnnForwardReference(cfg, params, x, t);
      const got = net.predict(x, t);
      expect(got.data).toBeInstanceOf(Float64Array);
      // Float32 against float64 on outputs of size ~1-5, after 2-3 layers.
      expect(maxAbsDiff(got.data, want.data)).toBeLessThan(2e-4 * Math.max(1, maxAbs(want.data)));
      expect(maxAbsDiff(net.predict(x, 0.3).data, egnnForwardReference(cfg, params, x, 0.3).data)).toBeLessThan(2e-4 * Math.max(1, maxAbs(want.data)));
      // The coordinate updates are not negligible (else the checks below would be vacuous).
      const ref0 = egnnForwardReference(cfg, params, x, t);
      const disp = cfg.output === 'displacement' ? ref0.data : ref0.data.map((v, k) => v - x.data[k]);
      expect(maxAbs(disp)).toBeGreaterThan(0.05);
      net.dispose();
      expect(() => net.predict(x, 0.3)).toThrow(/dispose/);
    });
  }

  it('any batch size: rows do not depend on padding or chunking; bad shapes are rejected', () => {
    const params = liveParams(4, dw4Small);
    const net = egnnPredictor(dw4Small, params);
    const x = normalBatch(keyFromSeed(5), 1100, 8);
    const all = net.predict(x, 0.5);
    for (const i of [0, 1023, 1024, 1099]) {
      const one = net.predict(makeBatch(1, 8, x.data.slice(8 * i, 8 * i + 8)), 0.5);
      expect(maxAbsDiff(one.data, all.data.subarray(8 * i, 8 * i + 8))).toBeLessThan(1e-5);
    }
    expect(() => net.predict(makeBatch(2, 6), 0.5)).toThrow(/dimension 6/);
    net.dispose();
  });
});

describe('symmetry', () => {
  for (const cfg of [dw4Small, { ...dw4Small, output: 'displacement' as const }, threeD]) {
    it(`f(g x) = g f(x) for rotations, reflections, translations and permutations (P = ${cfg.particles}, s = ${cfg.spaceDim}, '${cfg.output}')`, () => {
      const { particles: P, spaceDim: s } = cfg;
      const net = egnnPredictor(cfg, liveParams(11, cfg));
      const x = normalBatch(keyFromSeed(12), 64, P * s);
      for (let k = 0; k < x.data.length; k++) x.data[k] *= 2;
      const t = uniform(keyFromSeed(13), 64, 0.001, 1);
      const fx = net.predict(x, t);
      const scale = Math.max(1, maxAbs(fx.data));
      const identity = Array.from({ length: s }, (_, a) => Array.from({ length: s }, (_, b) => (a === b ? 1 : 0)));
      const noPerm = Int32Array.from({ length: P }, (_, i) => i);
      const zero = new Array<number>(s).fill(0);
      const cases: [string, number[][], Int32Array, number[]][] = [
        ['rotation', randomOrthogonal(14, s, false), noPerm, zero],
        ['reflection', randomOrthogonal(15, s, true), noPerm, zero],
        ['translation', identity, noPerm, Array.from(normal(keyFromSeed(16), s), (v) => 5 * v)],
        ['permutation', identity, permutation(keyFromSeed(17), P), zero],
        ['all together', randomOrthogonal(18, s, true), permutation(keyFromSeed(19), P), Array.from(normal(keyFromSeed(20), s), (v) => 3 * v)],
      ];
      for (const [what, Q, perm, c] of cases) {
        const fgx = net.predict(act(x, P, s, Q, perm, c), t);
        // Output: rotated and permuted, never translated (a CoM-free position or displacement).
        const gfx = act(fx, P, s, Q, perm, zero);
        expect(maxAbsDiff(fgx.data, gfx.data), what).toBeLessThan(3e-5 * scale + 1e-5 * Math.max(...c.map(Math.abs)));
      }
      net.dispose();
    });
  }

  it('the output has zero centre of mass (per row, per coordinate)', () => {
    for (const cfg of [dw4Small, threeD]) {
      const { particles: P, spaceDim: s } = cfg;
      const net = egnnPredictor(cfg, liveParams(21, cfg));
      const x = normalBatch(keyFromSeed(22), 50, P * s);
      for (let k = 0; k < x.data.length; k++) x.data[k] += 3; // an off-centre input
      const y = net.predict(x, uniform(keyFromSeed(23), 50, 0, 1));
      for (let r = 0; r < y.n; r++) {
        for (let a = 0; a < s; a++) {
          let com = 0;
          for (let i = 0; i < P; i++) com += y.data[r * P * s + i * s + a] / P;
          expect(Math.abs(com)).toBeLessThan(1e-5);
        }
      }
      net.dispose();
    }
  });
});

describe('gradients at coincident particles', () => {
  // Rows where particles coincide: all four at one point, and two of four at one point.
  const coincident = makeBatch(2, 8, Float64Array.from([1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 3, -1, 2, 2]));

  it('input gradient of the network is finite (no sqrt(0) in the backward pass)', () => {
    const params = liveParams(31, dw4Small);
    const p = egnnEngineParams(dw4Small, params);
    const w = np.array(Float32Array.from(normal(keyFromSeed(32), 8)));
    const t = np.array(Float32Array.of(0.7)).reshape([1, 1]);
    const f = valueAndGrad((x: JaxArray) => np.sum(np.multiply(egnnApply(dw4Small, p, x, t), w), -1), { dim: 8 });
    const { value, grad } = f(coincident);
    for (const v of value) expect(Number.isFinite(v)).toBe(true);
    for (const v of grad.data) expect(Number.isFinite(v)).toBe(true);
    expect(maxAbs(grad.data)).toBeGreaterThan(0);
  });

  it('parameter gradient of a squared error is finite', () => {
    const p = egnnEngineParams(dw4Small, liveParams(33, dw4Small));
    const f = jitTree((pp: EngineWeights, x: JaxArray, t: JaxArray) => {
      const loss = (q: EngineWeights): JaxArray => np.sum(np.square(np.subtract(egnnApply(dw4Small, q, x, t), 1)));
      return valueAndGradTree(loss)(pp);
    });
    const [l, g] = f(p, np.array(Float32Array.from(coincident.data)).reshape([2, 8]), np.array(Float32Array.of(0.1, 0.9)).reshape([2, 1]));
    expect(Number.isFinite(readF32(l)[0])).toBe(true);
    let total = 0;
    for (const [name, a] of Object.entries(g)) {
      const d = readF32(a);
      for (const v of d) expect(Number.isFinite(v), name).toBe(true);
      total += maxAbs(d);
    }
    expect(total).toBeGreaterThan(0);
    f.dispose();
  });
});
