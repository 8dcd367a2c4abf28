/**
 * A plain MLP (no time input) and a small supervised trainer for it: the networks ISSGM uses as
 * importance weights in the paper's applications (Sec. 4.2: an autoencoder's distortion; Sec.
 * 4.3-1: a classifier's probability), trained here on the bundled digits by `digit-autoencoder.ts`
 * and `digit-classifier.ts`. Score networks live in `mlp.ts`; this one has no time embedding.
 *
 * Layout as the score MLP (`mlp.ts`): tensors in PyTorch layout (`layers.{l}.weight` `[out, in]`,
 * `layers.{l}.bias` `[out]`, PyTorch's default `nn.Linear` init), engine arrays transposed so a
 * layer is `h @ W + b`. Hidden layers use an activation, the last layer is linear.
 *
 * Training: Adam (`adam.ts`, PyTorch's update) on minibatches drawn with replacement by
 * `randint(foldIn(key, step))`, constant learning rate; the whole step (forward, backward, Adam)
 * is one compiled program, as in `train.ts`. Deterministic given the key (and the engine's
 * float32 arithmetic), so a cached network can be re-created exactly.
 */
import type { Batch } from '../core/batch.js';
import {
  arrayF32, disposeTree, enableKernelInstanceCache, initEngine, jitTree, nn, np, readF32, refTree, valueAndGradTree, type JaxArray,
} from '../core/engine.js';
import { foldIn, randint, split, uniform, type Key } from '../core/key.js';
import { adamBiasCorrections, adamLeaf, type AdamConfig } from './adam.js';
import { fromEngineWeights, toEngineWeights, type EngineWeights, type TensorSpec } from './layers.js';
import { checkTensors, zerosLike, type Tensors } from './tensors.js';

export type PlainActivation = 'silu' | 'tanh' | 'relu';

export interface PlainMlpConfig {
  /** Layer widths from input to output, e.g. `[64, 64, 10]` (one hidden layer of 64). */
  sizes: number[];
  /** Activation of the hidden layers (the output layer is linear). */
  activation: PlainActivation;
}

export function checkPlainMlpConfig(cfg: PlainMlpConfig): void {
  if (!Array.isArray(cfg.sizes) || cfg.sizes.length < 2) throw new RangeError('plain MLP: sizes needs at least an input and an output width');
  for (const s of cfg.sizes) if (!Number.isInteger(s) || s < 1) throw new RangeError(`plain MLP: widths must be positive integers, got ${s}`);
  if (!['silu', 'tanh', 'relu'].includes(cfg.activation)) throw new RangeError(`plain MLP: unknown activation '${String(cfg.activation)}'`);
}

/** Names and PyTorch-layout shapes of the parameters. */
export function plainMlpSpecs(cfg: PlainMlpConfig): TensorSpec[] {
  checkPlainMlpConfig(cfg);
  const out: TensorSpec[] = [];
  for (let l = 0; l + 1 < cfg.sizes.length; l++) {
    out.push({ name: `layers.${l}.weight`, shape: [cfg.sizes[l + 1], cfg.sizes[l]] });
    out.push({ name: `layers.${l}.bias`, shape: [cfg.sizes[l + 1]] });
  }
  return out;
}

/** PyTorch's default `nn.Linear` init, `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`, one key per tensor. */
export function initPlainMlp(key: Key, cfg: PlainMlpConfig): Tensors {
  const specs = plainMlpSpecs(cfg);
  const keys = split(key, specs.length);
  const out: Tensors = {};
  specs.forEach((s, i) => {
    const fanIn = cfg.sizes[Math.floor(i / 2)];
    const bound = 1 / Math.sqrt(fanIn);
    const size = s.shape.reduce((a, b) => a * b, 1);
    out[s.name] = { shape: [...s.shape], data: Float32Array.from(uniform(keys[i], size, -bound, bound)) };
  });
  return out;
}

function activate(act: PlainActivation, z: JaxArray): JaxArray {
  if (act === 'tanh') return np.tanh(z);
  if (act === 'relu') return np.maximum(z, 0);
  // silu(z) = z sigmoid(z), with the exponent clipped as in layers.ts (finite gradient for any z).
  return np.multiply(z, np.reciprocal(np.add(np.exp(np.negative(np.clip(z, -60, 60))), 1)));
}

/** The network on engine arrays (`x` `[n, in]` -> `[n, out]`), for traced functions. Non-consuming. */
export function plainMlpApply(cfg: PlainMlpConfig, w: EngineWeights, x: JaxArray): JaxArray {
  const L = cfg.sizes.length - 1;
  let h = x;
  for (let l = 0; l < L; l++) {
    const z = np.add(np.matmul(h, w[`layers.${l}.weight`]), w[`layers.${l}.bias`]);
    h = l < L - 1 ? activate(cfg.activation, z) : z;
  }
  return h;
}

/** Float64 reference of the forward pass (plain TS, row by row): the definition tests compare with. */
export function plainMlpReference(cfg: PlainMlpConfig, params: Tensors, x: Batch): Batch {
  checkTensors(params, plainMlpSpecs(cfg), 'plain MLP parameters');
  if (x.dim !== cfg.sizes[0]) throw new RangeError(`plain MLP expects inputs of width ${cfg.sizes[0]}, got ${x.dim}`);
  const L = cfg.sizes.length - 1;
  const dout = cfg.sizes[L];
  const out = new Float64Array(x.n * dout);
  for (let i = 0; i < x.n; i++) {
    let h = Float64Array.from(x.data.subarray(i * x.dim, (i + 1) * x.dim));
    for (let l = 0; l < L; l++) {
      const fin = cfg.sizes[l];
      const fout = cfg.sizes[l + 1];
      const W = params[`layers.${l}.weight`].data;
      const b = params[`layers.${l}.bias`].data;
      const z = new Float64Array(fout);
      for (let o = 0; o < fout; o++) {
        let s = b[o];
        for (let k = 0; k < fin; k++) s += W[o * fin + k] * h[k];
        if (l < L - 1) {
          if (cfg.activation === 'tanh') s = Math.tanh(s);
          else if (cfg.activation === 'relu') s = Math.max(s, 0);
          else s = s / (1 + Math.exp(-s));
        }
        z[o] = s;
      }
      h = z;
    }
    out.set(h, i * dout);
  }
  return { n: x.n, dim: dout, data: out };
}

function toF32(x: Batch): JaxArray {
  return arrayF32(Float32Array.from(x.data), [x.n, x.dim]);
}

/**
 * The forward pass as a float64 function of a batch (float32 inside one compiled program per
 * batch shape). Owns engine copies of the weights until `dispose()`. The engine must be started.
 */
export function plainMlpPredictor(cfg: PlainMlpConfig, params: Tensors): { apply(x: Batch): Batch; dispose(): void } {
  enableKernelInstanceCache();
  const specs = plainMlpSpecs(cfg);
  let w: EngineWeights | undefined = toEngineWeights(specs, params, 'plain MLP parameters');
  const fwd = jitTree((ww: EngineWeights, x: JaxArray) => np.add(plainMlpApply(cfg, ww, x), 0));
  const dout = cfg.sizes[cfg.sizes.length - 1];
  return {
    apply(x: Batch): Batch {
      if (w === undefined) throw new Error('plain MLP predictor used after dispose()');
      if (x.dim !== cfg.sizes[0]) throw new RangeError(`plain MLP expects inputs of width ${cfg.sizes[0]}, got ${x.dim}`);
      if (x.n === 0) return { n: 0, dim: dout, data: new Float64Array(0) };
      return { n: x.n, dim: dout, data: Float64Array.from(readF32(fwd(refTree(w), toF32(x)))) };
    },
    dispose(): void {
      if (w !== undefined) disposeTree(w);
      w = undefined;
      fwd.dispose();
    },
  };
}

/**
 * `mse`: mean over rows and output columns of `(f(x) - y)^2` (the autoencoder's distortion).
 * `softmax-cross-entropy`: mean over rows of `-sum_j y_j log softmax(f(x))_j`, `y` one-hot or soft
 * labels (the classifier).
 */
export type SupervisedLoss = 'mse' | 'softmax-cross-entropy';

export interface SupervisedTrainOptions {
  loss: SupervisedLoss;
  steps: number;
  batch: number;
  /** Adam's (constant) learning rate. */
  lr: number;
  adam?: AdamConfig;
}

export interface SupervisedTrainResult {
  params: Tensors;
  /** Minibatch loss after each step (before that step's update). */
  losses: Float64Array;
  seconds: number;
}

/** The loss on engine arrays (non-consuming). */
function supervisedLoss(loss: SupervisedLoss, out: JaxArray, y: JaxArray): JaxArray {
  const [n, d] = out.shape;
  if (loss === 'mse') return np.divide(np.sum(np.square(np.subtract(out, y))), n * d);
  return np.divide(np.negative(np.sum(np.multiply(y, nn.logSoftmax(out, -1)))), n);
}

/**
 * Train `cfg` from `init` on inputs `x` `[n, in]` and targets `y` `[n, out]` by Adam on
 * minibatches of `batch` rows drawn with replacement (`randint(foldIn(key, step), ...)`).
 */
export async function trainPlainMlp(key: Key, cfg: PlainMlpConfig, init: Tensors, x: Batch, y: Batch, opts: SupervisedTrainOptions): Promise<SupervisedTrainResult> {
  const specs = plainMlpSpecs(cfg);
  checkTensors(init, specs, 'plain MLP initial parameters');
  const L = cfg.sizes.length - 1;
  if (x.dim !== cfg.sizes[0]) throw new RangeError(`training inputs have width ${x.dim}, the network ${cfg.sizes[0]}`);
  if (y.dim !== cfg.sizes[L]) throw new RangeError(`training targets have width ${y.dim}, the network outputs ${cfg.sizes[L]}`);
  if (x.n !== y.n || x.n < 1) throw new RangeError(`training needs as many targets as inputs (>= 1), got ${x.n} and ${y.n}`);
  if (!Number.isInteger(opts.steps) || opts.steps < 0) throw new RangeError(`steps must be an integer >= 0, got ${opts.steps}`);
  if (!Number.isInteger(opts.batch) || opts.batch < 1) throw new RangeError(`batch must be a positive integer, got ${opts.batch}`);
  if (!(opts.lr > 0)) throw new RangeError(`lr must be positive, got ${opts.lr}`);
  const adam = opts.adam ?? { beta1: 0.9, beta2: 0.999, eps: 1e-8 };
  await initEngine();
  enableKernelInstanceCache();
  const t0 = performance.now();
  type State = { p: EngineWeights; m: EngineWeights; v: EngineWeights };
  let st: State = {
    p: toEngineWeights(specs, init, 'plain MLP parameters'),
    m: toEngineWeights(specs, zerosLike(init), 'Adam m'),
    v: toEngineWeights(specs, zerosLike(init), 'Adam v'),
  };
  const names = specs.map((s) => s.name);
  const step = jitTree((s: State, xb: JaxArray, yb: JaxArray, hyper: JaxArray) => {
    const [lossV, g] = valueAndGradTree((q: EngineWeights) => supervisedLoss(opts.loss, plainMlpApply(cfg, q, xb), yb))(refTree(s.p));
    const lr = hyper.ref.slice(0);
    const c1 = hyper.ref.slice(1);
    const c2 = hyper.ref.slice(2);
    const next: State = { p: {}, m: {}, v: {} };
    for (const k of names) {
      const [p2, m2, v2] = adamLeaf(adam, s.p[k], g[k], s.m[k], s.v[k], lr, c1, c2);
      (next.p as Record<string, JaxArray>)[k] = p2;
      (next.m as Record<string, JaxArray>)[k] = m2;
      (next.v as Record<string, JaxArray>)[k] = v2;
    }
    return [next, np.add(lossV, 0)] as [State, JaxArray];
  });
  const losses = new Float64Array(opts.steps);
  const B = opts.batch;
  const xs = new Float32Array(B * x.dim);
  const ys = new Float32Array(B * y.dim);
  try {
    for (let k = 0; k < opts.steps; k++) {
      const idx = randint(foldIn(key, k), B, x.n);
      for (let i = 0; i < B; i++) {
        const r = idx[i];
        for (let j = 0; j < x.dim; j++) xs[i * x.dim + j] = x.data[r * x.dim + j];
        for (let j = 0; j < y.dim; j++) ys[i * y.dim + j] = y.data[r * y.dim + j];
      }
      const { c1, c2 } = adamBiasCorrections(adam, k + 1);
      const [next, lossA] = step(st, arrayF32(xs, [B, x.dim]), arrayF32(ys, [B, y.dim]), arrayF32(Float32Array.of(opts.lr, c1, c2), [3]));
      st = next;
      losses[k] = readF32(lossA)[0];
      if (!Number.isFinite(losses[k])) throw new Error(`plain MLP training: non-finite loss (${losses[k]}) at step ${k}`);
    }
    const params = fromEngineWeights(specs, st.p);
    disposeTree([st.m, st.v]);
    return { params, losses, seconds: (performance.now() - t0) / 1000 };
  } finally {
    step.dispose();
  }
}
