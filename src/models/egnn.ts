/**
 * E(n)-equivariant graph neural network (EGNN; Satorras, Hoogeboom & Welling 2021, "E(n)
 * Equivariant Graph Neural Networks", eqs. 3-6) as a score network for particle systems (DW-4,
 * SPEC §3), with the coordinate normalisation of Hoogeboom et al. 2022 (EDM, "Equivariant
 * diffusion for molecule generation in 3D").
 *
 * Input: positions flattened `[n, P * s]` (particle p's coordinates at `p*s .. p*s + s - 1`,
 * the layout of `targets/dw4.ts`) and a time per row. The graph is fully connected without
 * self-loops (P = 4: 12 directed edges). Particles are identical, so every node starts from the
 * same features: the sinusoidal embedding of t (`embedding.ts`) through a linear layer,
 * `h_i^0 = W_emb emb(t) + b_emb`; no per-particle one-hot, which would break permutation
 * equivariance. Layer l = 0..L-1 (an EGCL):
 *
 *   (eq. 3)  m_ij      = phi_e(h_i, h_j, |x_i - x_j|^2)                 (edge MLP, 2 layers, SiLU)
 *   (eq. 4)  x_i      <- x_i + C sum_{j != i} (x_i - x_j) / (|x_i - x_j| + 1) phi_x(m_ij)
 *   (eq. 5)  m_i       = sum_{j != i} m_ij
 *   (eq. 6)  h_i      <- h_i + phi_h(h_i, m_i)                           (node MLP, residual)
 *
 * with `C = 1 / (P - 1)` (eq. 4's mean over neighbours) and EDM's normalisation of the relative
 * position by `|x_i - x_j| + 1`, which keeps one update bounded by `|phi_x|` however far apart
 * the particles are (Satorras' plain `x_i - x_j` let the coordinates blow up in EDM's runs).
 * `|x_i - x_j|` is `sqrt(d^2 + 1e-8)`: at coincident particles (`d = 0`, e.g. a diagonal of
 * x_t at large noise) plain `sqrt` has an infinite derivative and the backward pass would form
 * `0 * Infinity = NaN`; with the 1e-8 the derivative `d / sqrt(d^2 + 1e-8)` is bounded by 1.
 * The last layer has no node MLP: `h^L` is not used by the output, so its weights would get
 * zero gradients.
 *
 * Output (the network's prediction in its parametrisation), translation-free as SPEC §3 asks
 * (work in centre-of-mass-free coordinates):
 *  - `'position'` (default; the mean parametrisation of DW-4, predicting `x0`): `x^L - com(x^L)`.
 *    Because the updates are translation-equivariant this is `x^0 - com(x^0) + (D - com(D))` with
 *    `D = x^L - x^0`: the CoM-free input plus a CoM-free displacement, so an untrained network
 *    (tiny `phi_x`, below) predicts `x0 ≈ x_t` with its centre of mass removed.
 *  - `'displacement'` (EDM's noise output): `D - com(D)`, for the noise or score parametrisation.
 * Both are invariant to translations of the input and rotate/reflect/permute with it.
 * The CoM-free prediction is also right in full space: for CoM-free data `E[x0 | x_t]` has zero
 * centre of mass, so under the mean parametrisation `s = (alpha x0_hat - x) / sigma^2` the CoM
 * part of the score is `-com(x) / sigma^2`, the exact score of the noise along the translations.
 *
 * Initialisation: PyTorch's `nn.Linear` default `U(-1/sqrt(fan_in), 1/sqrt(fan_in))` for weights
 * and biases, except phi_x's last layer, which is bias-free with `xavier_uniform(gain = 0.001)`
 * as in EDM (`egnn_new.py`, `EquivariantUpdate`): coordinate updates start near zero.
 *
 * Parameters as `Tensors` in PyTorch layout (`embedding.weight` `[H, embDim]`;
 * `layers.{l}.edge_mlp.{0,2}`, `layers.{l}.coord_mlp.{0,2}`, `layers.{l}.node_mlp.{0,2}` in
 * `nn.Sequential(Linear, SiLU, Linear, ...)` numbering), and as engine arrays by name with 2-D
 * weights transposed (`layers.ts`, `toEngineWeights`) for compiled programs.
 */
import type { Batch } from '../core/batch.js';
import { arrayF32, np, type JaxArray } from '../core/engine.js';
import { split, uniform, type Key } from '../core/key.js';
import { embeddingFrequencies, embedTime } from './embedding.js';
import { silu, TIME_FREQS, toEngineWeights, type EngineWeights, type TensorSpec } from './layers.js';
import { compiledPredictor, type NetworkPredictor } from './predictor.js';
import { checkTensors, type Tensors } from './tensors.js';

export interface EgnnConfig {
  /** Number of particles P (nodes of the graph). */
  particles: number;
  /** Dimension s of the space the particles live in. */
  spaceDim: number;
  /** Width H of node features and messages. */
  hidden: number;
  /** Number of EGCL layers L. */
  layers: number;
  /** Size of the sinusoidal time embedding (even). */
  embDim: number;
  activation: 'silu';
  /** What the network outputs (see the module comment). */
  output: 'position' | 'displacement';
}

/**
 * The amortized-posterior paper's DW-4 network (SPEC §3): 3 layers, hidden 128, SiLU, for the
 * mean parametrisation (`output: 'position'`); a 32-wide time embedding as the MLP's.
 */
export function defaultEgnnConfig(particles = 4, spaceDim = 2): EgnnConfig {
  return { particles, spaceDim, hidden: 128, layers: 3, embDim: 32, activation: 'silu', output: 'position' };
}

export function checkEgnnConfig(cfg: EgnnConfig): void {
  const posInt = (v: number, name: string, min = 1): void => {
    if (!Number.isInteger(v) || v < min) throw new RangeError(`EGNN ${name} must be an integer >= ${min}, got ${v}`);
  };
  posInt(cfg.particles, 'particles', 2);
  posInt(cfg.spaceDim, 'spaceDim');
  posInt(cfg.hidden, 'hidden');
  posInt(cfg.layers, 'layers');
  embeddingFrequencies(cfg.embDim); // validates
  if (cfg.activation !== 'silu') throw new RangeError(`EGNN activation must be 'silu', got '${String(cfg.activation)}'`);
  if (cfg.output !== 'position' && cfg.output !== 'displacement') {
    throw new RangeError(`EGNN output must be 'position' or 'displacement', got '${String(cfg.output)}'`);
  }
}

/** Flattened data dimension `P * s`. */
export function egnnDim(cfg: EgnnConfig): number {
  return cfg.particles * cfg.spaceDim;
}

/** Names and shapes of the parameters, in a fixed order (PyTorch layout `[out, in]`). */
export function egnnTensorSpecs(cfg: EgnnConfig): TensorSpec[] {
  checkEgnnConfig(cfg);
  const H = cfg.hidden;
  const lin = (name: string, fin: number, fout: number, bias = true): TensorSpec[] => [
    { name: `${name}.weight`, shape: [fout, fin] },
    ...(bias ? [{ name: `${name}.bias`, shape: [fout] }] : []),
  ];
  const specs: TensorSpec[] = lin('embedding', cfg.embDim, H);
  for (let l = 0; l < cfg.layers; l++) {
    specs.push(...lin(`layers.${l}.edge_mlp.0`, 2 * H + 1, H), ...lin(`layers.${l}.edge_mlp.2`, H, H));
    specs.push(...lin(`layers.${l}.coord_mlp.0`, H, H), ...lin(`layers.${l}.coord_mlp.2`, H, 1, false));
    if (l < cfg.layers - 1) specs.push(...lin(`layers.${l}.node_mlp.0`, 2 * H, H), ...lin(`layers.${l}.node_mlp.2`, H, H));
  }
  return specs;
}

/** Number of scalar parameters. */
export function egnnParamCount(cfg: EgnnConfig): number {
  return egnnTensorSpecs(cfg).reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1), 0);
}

/** The gain of EDM's `xavier_uniform_` on phi_x's last (bias-free) layer. */
const COORD_OUT_GAIN = 0.001;

/**
 * Deterministic initialisation from `key` (see the module comment): tensor i of
 * `egnnTensorSpecs(cfg)` is drawn from `split(key, specs.length)[i]`.
 */
export function initEgnn(key: Key, cfg: EgnnConfig): Tensors {
  const specs = egnnTensorSpecs(cfg);
  const keys = split(key, specs.length);
  const out: Tensors = {};
  specs.forEach((s, i) => {
    // A bias takes the bound of its layer's weight, which precedes it in the specs.
    const w = s.name.endsWith('.bias') ? specs[i - 1] : s;
    const [fout, fin] = w.shape;
    const bound = /coord_mlp\.2\.weight$/.test(s.name) ? COORD_OUT_GAIN * Math.sqrt(6 / (fin + fout)) : 1 / Math.sqrt(fin);
    const size = s.shape.reduce((a, b) => a * b, 1);
    out[s.name] = { shape: [...s.shape], data: Float32Array.from(uniform(keys[i], size, -bound, bound)) };
  });
  return out;
}

// ----------------------------------------------------------------------------------------------
// Engine side
// ----------------------------------------------------------------------------------------------

/** The fixed (non-trained) tensors `egnnApply` needs besides the weights: the embedding frequencies `[1, embDim/2]`. */
export function egnnBuffers(cfg: EgnnConfig): Tensors {
  const f = embeddingFrequencies(cfg.embDim);
  return { [TIME_FREQS]: { shape: [1, f.length], data: Float32Array.from(f) } };
}

/** Tensors -> engine params for `egnnApply` (2-D weights transposed, plus the frequencies). Needs a started engine. */
export function egnnEngineParams(cfg: EgnnConfig, t: Tensors): EngineWeights {
  const p = toEngineWeights(egnnTensorSpecs(cfg), t, 'EGNN parameters');
  const f = egnnBuffers(cfg)[TIME_FREQS];
  p[TIME_FREQS] = arrayF32(f.data, f.shape);
  return p;
}

/**
 * For `a` `[n, P, ...rest]` (one entry per particle), the neighbours' entries over the edges:
 * `[n, P, P - 1, ...rest]` whose `[:, i, k - 1]` is `a[:, (i + k) mod P]`, k = 1..P-1, i.e. every
 * `j != i` once. Built from rolls along the particle axis (two slices and a concatenation each)
 * and a stack, so it needs no gather. Why not the reshape trick (flatten `[P, P]`, drop entry 0,
 * view as `[P - 1, P + 1]`, drop the last column): jax-js 0.1.25 miscompiles a slice of a
 * reshaped slice of a broadcast view (wrong values for P = 4, measured), which that trick needs.
 */
function neighbours(a: JaxArray, P: number): JaxArray {
  const rolled: JaxArray[] = [];
  for (let k = 1; k < P; k++) rolled.push(np.concatenate([a.ref.slice([], [k, P]), a.ref.slice([], [0, k])], 1));
  return np.stack(rolled, 2);
}

/** `a` `[n, P, ...rest]` -> `[n, P, 1, ...rest]`, the particle's own entry broadcast over its edges. */
function self(a: JaxArray): JaxArray {
  const [n, P, ...rest] = a.shape;
  return np.reshape(a, [n, P, 1, ...rest]);
}

/** `h @ W + b` for `h` `[..., in]` (reshaped to 2-D around the matmul). */
function linear(h: JaxArray, w: JaxArray, b?: JaxArray): JaxArray {
  const lead = h.shape.slice(0, -1);
  const [fin, fout] = w.shape;
  const y = np.matmul(np.reshape(h, [lead.reduce((a, c) => a * c, 1), fin]), w);
  return np.reshape(b === undefined ? y : np.add(y, b), [...lead, fout]);
}

/** `|d| = sqrt(d^2 + DIST_EPS)`: a finite derivative at coincident particles (module comment). */
const DIST_EPS = 1e-8;

/**
 * The network on engine arrays, for use inside a traced (`jitTree`, `valueAndGradTree`)
 * function: `p` from `egnnEngineParams`, `x` `[n, P * s]`, `t` `[n, 1]` (or `[1, 1]`: one time
 * for all rows); returns `[n, P * s]`. Non-consuming. Vectorised over the batch: pairwise
 * quantities are `[n, P, P - 1, ...]` arrays (`neighbours`, broadcasting), and the edge MLPs
 * run as one matmul over all `n P (P - 1)` edges.
 */
export function egnnApply(cfg: EgnnConfig, p: EngineWeights, x: JaxArray, t: JaxArray): JaxArray {
  const { particles: P, spaceDim: s, hidden: H, layers: L } = cfg;
  const E = P - 1;
  const n = x.shape[0];
  const x0 = np.reshape(x, [n, P, s]);

  // Node features: h_i^0 = W_emb emb(t) + b_emb, the same for every particle ([m, H], m = n or 1).
  const phase = np.multiply(t, p[TIME_FREQS]);
  const emb = np.concatenate([np.sin(phase), np.cos(phase)], -1);
  const h0 = linear(emb, p['embedding.weight'], p['embedding.bias']);
  let h = np.broadcastTo(np.reshape(h0, [h0.shape[0], 1, H]), [n, P, H]);

  let xl = x0;
  for (let l = 0; l < L; l++) {
    const w = (name: string): JaxArray => p[`layers.${l}.${name}`];
    // Relative positions x_i - x_j over the edges j != i, and squared distances: [n, P, E, s|1].
    const diff = np.subtract(self(xl), neighbours(xl, P));
    const d2 = np.sum(np.square(diff), -1, { keepdims: true });

    // (eq. 3) m_ij = phi_e([h_i, h_j, d_ij^2]). The first layer's product with the concatenated
    // input is split as h_i W_a + h_j W_b + d_ij^2 w_c: the node products are computed per node
    // (n P rows) and broadcast to the edges, instead of one matmul over n P (P-1) rows of 2H+1.
    const we0 = w('edge_mlp.0.weight'); // [2H + 1, H]
    const hi = linear(h, we0.ref.slice([0, H])); // [n, P, H]
    const hj = linear(h, we0.ref.slice([H, 2 * H]));
    const pair = np.add(self(hi), neighbours(hj, P)); // [n, P, E, H]
    const z = np.add(np.add(pair, np.multiply(d2, we0.ref.slice([2 * H, 2 * H + 1]))), w('edge_mlp.0.bias'));
    const m = silu(linear(silu(z), w('edge_mlp.2.weight'), w('edge_mlp.2.bias'))); // [n, P, E, H]

    // (eq. 4) x_i += C sum_j (x_i - x_j) / (|x_i - x_j| + 1) phi_x(m_ij), C = 1/(P - 1).
    const phiX = linear(silu(linear(m, w('coord_mlp.0.weight'), w('coord_mlp.0.bias'))), w('coord_mlp.2.weight')); // [n, P, E, 1]
    const scale = np.divide(phiX, np.add(np.sqrt(np.add(d2, DIST_EPS)), 1));
    xl = np.add(xl, np.multiply(np.sum(np.multiply(diff, scale), 2), 1 / E));

    if (l < L - 1) {
      // (eq. 5) m_i = sum_{j != i} m_ij; (eq. 6) h_i <- h_i + phi_h([h_i, m_i]), the first
      // layer split like the edge MLP's.
      const mi = np.sum(m, 2); // [n, P, H]
      const wh0 = w('node_mlp.0.weight'); // [2H, H]
      const zh = np.add(np.add(linear(h, wh0.ref.slice([0, H])), linear(mi, wh0.ref.slice([H, 2 * H]))), w('node_mlp.0.bias'));
      h = np.add(h, linear(silu(zh), w('node_mlp.2.weight'), w('node_mlp.2.bias')));
    }
  }

  // Output without its centre of mass (see the module comment).
  const y = cfg.output === 'position' ? xl : np.subtract(xl, x0);
  return np.reshape(np.subtract(y, np.mean(y, 1, { keepdims: true })), [n, P * s]);
}

/**
 * The network as a plain forward: float32 inside one compiled program per bucketed batch shape,
 * float64 out (like `networkPredictor` for the MLP). The engine must be started.
 */
export function egnnPredictor(cfg: EgnnConfig, params: Tensors): NetworkPredictor {
  checkEgnnConfig(cfg);
  return compiledPredictor(egnnDim(cfg), egnnEngineParams(cfg, params), (p, x, t) => egnnApply(cfg, p, x, t), 'EGNN');
}

// ----------------------------------------------------------------------------------------------
// Float64 reference (plain TS): the definition the compiled network is tested against.
// ----------------------------------------------------------------------------------------------

/** The network's output in float64, row by row, with the full concatenated MLP inputs (slow; for tests). */
export function egnnForwardReference(cfg: EgnnConfig, params: Tensors, x: Batch, t: number | Float64Array): Batch {
  checkTensors(params, egnnTensorSpecs(cfg), 'EGNN parameters');
  const { particles: P, spaceDim: s, hidden: H, layers: L } = cfg;
  const D = P * s;
  if (x.dim !== D) throw new RangeError(`EGNN expects dimension ${D}, got ${x.dim}`);
  const act = (v: number): number => v / (1 + Math.exp(-v));
  const lin = (name: string, v: Float64Array, activate: boolean): Float64Array => {
    const W = params[`${name}.weight`];
    const b = params[`${name}.bias`];
    const [fout, fin] = W.shape;
    const o = new Float64Array(fout);
    for (let r = 0; r < fout; r++) {
      let acc = b ? b.data[r] : 0;
      for (let k = 0; k < fin; k++) acc += W.data[r * fin + k] * v[k];
      o[r] = activate ? act(acc) : acc;
    }
    return o;
  };
  const freqs = embeddingFrequencies(cfg.embDim);
  const out = new Float64Array(x.n * D);
  for (let row = 0; row < x.n; row++) {
    const emb = new Float64Array(cfg.embDim);
    embedTime(freqs, typeof t === 'number' ? t : t[row], emb);
    const h0 = lin('embedding', emb, false);
    let h = Array.from({ length: P }, () => h0.slice());
    const xin = Array.from({ length: P }, (_, i) => Float64Array.from(x.data.subarray(row * D + i * s, row * D + (i + 1) * s)));
    let xl = xin.map((v) => v.slice());
    for (let l = 0; l < L; l++) {
      const pre = `layers.${l}`;
      const xn = xl.map((v) => v.slice());
      const mAgg = Array.from({ length: P }, () => new Float64Array(H));
      for (let i = 0; i < P; i++) {
        for (let j = 0; j < P; j++) {
          if (j === i) continue;
          const d = xl[i].map((v, k) => v - xl[j][k]);
          const d2 = d.reduce((a, v) => a + v * v, 0);
          const inp = new Float64Array(2 * H + 1);
          inp.set(h[i], 0);
          inp.set(h[j], H);
          inp[2 * H] = d2;
          const m = lin(`${pre}.edge_mlp.2`, lin(`${pre}.edge_mlp.0`, inp, true), true);
          for (let k = 0; k < H; k++) mAgg[i][k] += m[k];
          const phi = lin(`${pre}.coord_mlp.2`, lin(`${pre}.coord_mlp.0`, m, true), false)[0];
          const c = phi / (Math.sqrt(d2 + DIST_EPS) + 1) / (P - 1);
          for (let k = 0; k < s; k++) xn[i][k] += c * d[k];
        }
      }
      if (l < L - 1) {
        h = h.map((hi, i) => {
          const inp = new Float64Array(2 * H);
          inp.set(hi, 0);
          inp.set(mAgg[i], H);
          const u = lin(`${pre}.node_mlp.2`, lin(`${pre}.node_mlp.0`, inp, true), false);
          return hi.map((v, k) => v + u[k]);
        });
      }
      xl = xn;
    }
    const y = xl.map((v, i) => (cfg.output === 'position' ? v.slice() : v.map((c, k) => c - xin[i][k])));
    for (let k = 0; k < s; k++) {
      let com = 0;
      for (let i = 0; i < P; i++) com += y[i][k] / P;
      for (let i = 0; i < P; i++) out[row * D + i * s + k] = y[i][k] - com;
    }
  }
  return { n: x.n, dim: D, data: out };
}
