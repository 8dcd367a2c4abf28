/**
 * The MLP score network: input `[x, emb(t)]` (the sinusoidal time embedding of `embedding.ts`),
 * `depth` hidden layers of width `hidden` with SiLU (`silu(z) = z sigmoid(z)`, Hendrycks & Gimpel
 * 2016; Ramachandran et al. 2017), and a linear output of the data dimension. Its output is read
 * under a parametrisation (noise, mean or score; SPEC §1, `diffusion/parametrisation.ts`).
 *
 * The default, 3 hidden layers x 128 with SiLU, is the ISSGM paper's GMM setup. Initialisation is
 * PyTorch's `nn.Linear` default (weights and biases `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`), so that
 * the PyTorch reference (`bench/reference/train_step.py`) is the same model.
 *
 * Two representations:
 *  - `Tensors` (float32, PyTorch layout `layers.{l}.weight` `[out, in]`, `layers.{l}.bias`
 *    `[out]`, l = 0..depth, the last one being the output layer): checkpoints;
 *  - `EngineParams` (engine arrays, weights transposed to `[in, out]` so that a layer is the
 *    plain `h @ W + b`): what compiled programs take.
 */
import type { Batch } from '../core/batch.js';
import { arrayF32, initEngine, np, readF32, type JaxArray } from '../core/engine.js';
import { split, uniform, type Key } from '../core/key.js';
import type { NoiseSchedule, ScoreModel } from '../core/types.js';
import { scoreModelFrom, type Parametrisation } from '../diffusion/parametrisation.js';
import type { NetworkSpec } from './architecture.js';
import { egnnPredictor } from './egnn.js';
import { embeddingFrequencies, embedTime } from './embedding.js';
import { silu, transposeData } from './layers.js';
import { compiledPredictor, type NetworkPredictor } from './predictor.js';
import { checkTensors, type Tensors } from './tensors.js';

// Moved to shared modules (the EGNN uses them too); re-exported for existing importers.
export { silu, transposeData } from './layers.js';
export { bucketSize, type NetworkPredictor } from './predictor.js';

export interface MlpConfig {
  /** Data dimension (input and output). */
  dim: number;
  /** Width of every hidden layer. */
  hidden: number;
  /** Number of hidden layers (there are `depth + 1` linear layers). */
  depth: number;
  /** Size of the sinusoidal time embedding (even). */
  embDim: number;
  activation: 'silu';
  /**
   * The coordinates the network works in [1, 1]: it computes `outputScale f(x / inputScale, t)`.
   * iDEM trains on GMM-40 data divided by 50 and regresses scores there (jarridrb/DEM,
   * `configs/energy/gmm.yaml`); in data coordinates its network is this with inputScale 50 and
   * outputScale 1/50 (`amortized/presets.ts`). Without it the untrained network's linear growth in
   * x, times the VE drift `g^2 ~ 2 sigma_max^2 log r` of sigma_max = 50, sent the initial buffer to
   * 1e11 in 3 of 6 keys (measured), and training never recovered.
   */
  inputScale?: number;
  outputScale?: number;
}

/** 3 hidden layers x 128, SiLU, a 32-wide sinusoidal time embedding. */
export function defaultMlpConfig(dim: number): MlpConfig {
  return { dim, hidden: 128, depth: 3, embDim: 32, activation: 'silu' };
}

export function checkMlpConfig(cfg: MlpConfig): void {
  const posInt = (v: number, name: string): void => {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`MLP ${name} must be a positive integer, got ${v}`);
  };
  posInt(cfg.dim, 'dim');
  posInt(cfg.hidden, 'hidden');
  posInt(cfg.depth, 'depth');
  embeddingFrequencies(cfg.embDim); // validates
  if (cfg.activation !== 'silu') throw new RangeError(`MLP activation must be 'silu', got '${String(cfg.activation)}'`);
  for (const name of ['inputScale', 'outputScale'] as const) {
    const v = cfg[name];
    if (v !== undefined && !(Number.isFinite(v) && v > 0)) throw new RangeError(`MLP ${name} must be a finite number > 0 (or absent: 1), got ${v}`);
  }
}

/** `inputScale` and `outputScale` of `cfg`, 1 when absent. */
export function mlpScales(cfg: MlpConfig): { input: number; output: number } {
  return { input: cfg.inputScale ?? 1, output: cfg.outputScale ?? 1 };
}

/** Whether `cfg` works in its own coordinates (a scale other than 1). */
export function isScaledMlp(cfg: MlpConfig): boolean {
  const { input, output } = mlpScales(cfg);
  return input !== 1 || output !== 1;
}

/** Why the onnxruntime training step refuses a scaled MLP (its hand-written graph has no scales). */
export const SCALED_MLP_ON_ORT = 'the onnxruntime training step covers the MLP without inputScale/outputScale; use the jax engine for this network';

/** `[fan_in, fan_out]` of linear layer l = 0..depth. */
function layerSizes(cfg: MlpConfig): [number, number][] {
  const sizes: [number, number][] = [];
  for (let l = 0; l <= cfg.depth; l++) {
    const fin = l === 0 ? cfg.dim + cfg.embDim : cfg.hidden;
    const fout = l === cfg.depth ? cfg.dim : cfg.hidden;
    sizes.push([fin, fout]);
  }
  return sizes;
}

/** Names and shapes of the parameters, in a fixed order (PyTorch layout). */
export function mlpTensorSpecs(cfg: MlpConfig): { name: string; shape: number[] }[] {
  checkMlpConfig(cfg);
  return layerSizes(cfg).flatMap(([fin, fout], l) => [
    { name: `layers.${l}.weight`, shape: [fout, fin] },
    { name: `layers.${l}.bias`, shape: [fout] },
  ]);
}

/** Number of scalar parameters. */
export function mlpParamCount(cfg: MlpConfig): number {
  return mlpTensorSpecs(cfg).reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1), 0);
}

/**
 * PyTorch's default `nn.Linear` initialisation, `U(-1/sqrt(fan_in), 1/sqrt(fan_in))` for weights
 * and biases (its kaiming_uniform with a = sqrt(5) reduces to this bound), drawn from `key`:
 * layer l uses `split(key, 2 * (depth + 1))[2l]` for its weight and `[2l + 1]` for its bias.
 */
export function initMlp(key: Key, cfg: MlpConfig): Tensors {
  const specs = mlpTensorSpecs(cfg);
  const keys = split(key, specs.length);
  const out: Tensors = {};
  specs.forEach((s, i) => {
    const fanIn = layerSizes(cfg)[Math.floor(i / 2)][0];
    const bound = 1 / Math.sqrt(fanIn);
    const size = s.shape.reduce((a, b) => a * b, 1);
    out[s.name] = { shape: [...s.shape], data: Float32Array.from(uniform(keys[i], size, -bound, bound)) };
  });
  return out;
}

// ----------------------------------------------------------------------------------------------
// Engine side
// ----------------------------------------------------------------------------------------------

/** Parameters as engine arrays: `w[l]` is `[in, out]`, `b[l]` is `[out]`. */
export type EngineParams = { w: JaxArray[]; b: JaxArray[] };

/** Tensors (PyTorch layout) -> engine arrays (weights transposed). Needs a started engine. */
export function toEngineParams(cfg: MlpConfig, t: Tensors): EngineParams {
  checkTensors(t, mlpTensorSpecs(cfg), 'MLP parameters');
  const w: JaxArray[] = [];
  const b: JaxArray[] = [];
  layerSizes(cfg).forEach(([fin, fout], l) => {
    w.push(arrayF32(transposeData(t[`layers.${l}.weight`].data, fout, fin), [fin, fout]));
    b.push(arrayF32(t[`layers.${l}.bias`].data, [fout]));
  });
  return { w, b };
}

/** Engine arrays -> Tensors. CONSUMES `p` (pass `refTree(p)` to keep it). */
export function fromEngineParams(cfg: MlpConfig, p: EngineParams): Tensors {
  const out: Tensors = {};
  layerSizes(cfg).forEach(([fin, fout], l) => {
    out[`layers.${l}.weight`] = { shape: [fout, fin], data: transposeData(readF32(p.w[l]), fin, fout) };
    out[`layers.${l}.bias`] = { shape: [fout], data: readF32(p.b[l]) };
  });
  return out;
}

/** The frequency row `[1, embDim/2]` the compiled programs take (see `embedding.ts`). */
export function frequencyArray(cfg: MlpConfig): JaxArray {
  const f = embeddingFrequencies(cfg.embDim);
  return arrayF32(Float32Array.from(f), [1, f.length]);
}

/** Input dimensions up to this use broadcast multiply-adds instead of a matmul (see mlpApply). */
const SMALL_DIM = 4;

/**
 * The network on engine arrays, for use inside a traced (`jitTree`) function: `x` is `[n, dim]`,
 * `t` is `[n, 1]` (or `[1, 1]`: one time for all rows, broadcast), `freqs` is
 * `frequencyArray(cfg)`; returns `[n, dim]`. Non-consuming.
 */
export function mlpApply(p: EngineParams, freqs: JaxArray, xData: JaxArray, t: JaxArray, scales = { input: 1, output: 1 }): JaxArray {
  const dim = xData.shape[1];
  // In the network's own coordinates (MlpConfig.inputScale); x is consumed only where it was
  // before (the matmul path), so callers may keep using it on the small-dimension path.
  const x = scales.input === 1 ? xData : np.multiply(dim <= SMALL_DIM ? xData.ref : xData, 1 / scales.input);
  const inW = p.w[0].shape[0];
  const phase = np.multiply(t, freqs); // [n, half]
  const emb = np.concatenate([np.sin(phase), np.cos(phase)], -1); // [n, embDim]
  // First layer as x @ W0[:dim] + emb @ W0[dim:] rather than [x, emb] @ W0: the same value, but
  // no concatenated input of width dim + embDim (34 by default), whose weight gradient jax-js
  // compiled to a non-vectorised kernel that took ~30% of a batch-1024 step.
  const w0e = p.w[0].ref.slice([dim, inW]);
  let z = np.add(np.matmul(emb, w0e), p.b[0]);
  if (dim <= SMALL_DIM) {
    // Low dimension: x @ W0x as dim broadcast multiply-adds, which fuse into one elementwise
    // kernel; a matmul with inner size 2 compiled to slow scalar kernels (forward and gradient).
    for (let j = 0; j < dim; j++) z = np.add(z, np.multiply(x.ref.slice([], [j, j + 1]), p.w[0].ref.slice([j, j + 1])));
  } else {
    z = np.add(z, np.matmul(x, p.w[0].ref.slice([0, dim])));
  }
  let h = silu(z);
  const L = p.w.length - 1;
  for (let l = 1; l < L; l++) h = silu(np.add(np.matmul(h, p.w[l]), p.b[l]));
  const out = np.add(np.matmul(h, p.w[L]), p.b[L]);
  return scales.output === 1 ? out : np.multiply(out, scales.output);
}

// ----------------------------------------------------------------------------------------------
// Float64 reference (plain TS): the definition the compiled network is tested against.
// ----------------------------------------------------------------------------------------------

/** The network's output in float64, row by row (slow; for tests and checks). */
export function mlpForwardReference(cfg: MlpConfig, params: Tensors, x: Batch, t: number | Float64Array): Batch {
  checkTensors(params, mlpTensorSpecs(cfg), 'MLP parameters');
  if (x.dim !== cfg.dim) throw new RangeError(`network expects dimension ${cfg.dim}, got ${x.dim}`);
  const freqs = embeddingFrequencies(cfg.embDim);
  const sizes = layerSizes(cfg);
  const { input, output } = mlpScales(cfg);
  const out = new Float64Array(x.n * cfg.dim);
  for (let i = 0; i < x.n; i++) {
    let h = new Float64Array(cfg.dim + cfg.embDim);
    for (let j = 0; j < cfg.dim; j++) h[j] = x.data[i * cfg.dim + j] / input;
    embedTime(freqs, typeof t === 'number' ? t : t[i], h, cfg.dim);
    sizes.forEach(([fin, fout], l) => {
      const W = params[`layers.${l}.weight`].data;
      const b = params[`layers.${l}.bias`].data;
      const z = new Float64Array(fout);
      for (let o = 0; o < fout; o++) {
        let s = b[o];
        for (let k = 0; k < fin; k++) s += W[o * fin + k] * h[k];
        z[o] = l < cfg.depth ? s / (1 + Math.exp(-s)) : s;
      }
      h = z;
    });
    for (let j = 0; j < cfg.dim; j++) out[i * cfg.dim + j] = output * h[j];
  }
  return { n: x.n, dim: cfg.dim, data: out };
}

// ----------------------------------------------------------------------------------------------
// The network as a ScoreModel (any architecture: the MLP here, the EGNN of `egnn.ts`)
// ----------------------------------------------------------------------------------------------

/**
 * The network as a predictor: float32 inside one compiled program per bucketed batch shape,
 * float64 out (`predictor.ts`). `t` is one time or one per row. `cfg` is a bare `MlpConfig` or a
 * tagged `NetworkConfig` (`architecture.ts`; e.g. a checkpoint's `model.network`), so an EGNN is
 * served by `egnnPredictor`. The engine must be started (`await initEngine()`).
 */
export function networkPredictor(cfg: NetworkSpec, params: Tensors): NetworkPredictor {
  // Dispatch here rather than through `architecture.ts`, which imports this module.
  if ('kind' in cfg && cfg.kind !== undefined && cfg.kind !== 'mlp') {
    if (cfg.kind === 'egnn') return egnnPredictor(cfg, params);
    throw new RangeError(`unknown network kind '${String((cfg as { kind: unknown }).kind)}'`);
  }
  const mlp = cfg as MlpConfig;
  checkMlpConfig(mlp);
  const p = { p: toEngineParams(mlp, params), freqs: frequencyArray(mlp) };
  return compiledPredictor(mlp.dim, p, (pp, x, t) => mlpApply(pp.p, pp.freqs, x, t, mlpScales(mlp)));
}

/**
 * A trained network (MLP or EGNN, see `networkPredictor`) as a `ScoreModel` under
 * parametrisation `kind`, converted to a score by `scoreModelFrom` (noise: `s = -eps / sigma_t`;
 * mean: `s = (alpha_t x0 - x) / sigma_t^2`). The engine must be started first
 * (`await initEngine()`, or use `loadNetworkScoreModel`).
 */
export function networkScoreModel(
  cfg: NetworkSpec, params: Tensors, kind: Parametrisation, schedule: NoiseSchedule,
): ScoreModel & { predictor: NetworkPredictor; dispose(): void } {
  const predictor = networkPredictor(cfg, params);
  const model = scoreModelFrom(kind, predictor, schedule);
  return { dim: model.dim, score: model.score, predictor, dispose: () => predictor.dispose() };
}

/**
 * `networkScoreModel` after starting the engine. From a checkpoint:
 * `const { config, params } = loadModel(dir); await loadNetworkScoreModel(config.network, params, config.parametrisation, sde)`.
 */
export async function loadNetworkScoreModel(
  cfg: NetworkSpec, params: Tensors, kind: Parametrisation, schedule: NoiseSchedule,
): Promise<ScoreModel & { predictor: NetworkPredictor; dispose(): void }> {
  await initEngine();
  return networkScoreModel(cfg, params, kind, schedule);
}
