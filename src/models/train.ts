/**
 * Training a score network by denoising score matching (`loss.ts`), with Adam and global-norm
 * clipping (`adam.ts`), warm-up + cosine learning rate (`lr.ts`) and an EMA of the weights
 * (`ema.ts`). Any architecture of `architecture.ts` (the MLP, the EGNN) trains the same way:
 * the functions here take a `NetworkSpec` (a bare `MlpConfig`, or `{ kind, ...config }`) and see
 * the network only through its tensor specs, init, buffers and `apply`.
 *
 * Performance shape (DESIGN.md): the whole step — forward, backward, clipping, Adam, EMA and the
 * NaN guard — is ONE compiled (`jit`) program over the pytree `{p, m, v, ema}` of engine arrays.
 * That state stays in the engine between steps; only the loss and gradient norm (two floats) are
 * read back per step, and the state is read back to `Tensors` only by `snapshot()` (checkpoints).
 * The per-step random draws (times, noise) and the schedule values are computed on the TS side
 * in float64 from the caller's key, so that a step is a pure function of (state, data, key) and
 * a resumed run is bit-identical to an uninterrupted one.
 *
 * A second engine: the same step as one ONNX graph on onnxruntime (`onnx-train-step.ts`,
 * `createTrainer(..., { engine: 'onnxruntime' | 'auto' })`), for the MLP (hand-written, 3-4x
 * faster on the training bench) and the EGNN (backward by `core/onnx-autodiff.ts`,
 * `onnx-egnn-train-step.ts`); both agree with this one to float32 rounding. The default stays
 * jax-js here; `tweedie train` asks for 'auto'.
 *
 * NaN/Inf guard: the compiled step computes the update and then selects, array by array,
 * `where(isfinite(loss) & isfinite(|g|), new, old)`, so a bad batch leaves every array (params,
 * moments, EMA) exactly as it was, and the step counter does not advance; `step()` reports it with
 * `skipped: true` and the quantity that was not finite.
 */
import type { Batch } from '../core/batch.js';
import {
  arrayF32, disposeTree, enableKernelInstanceCache, initEngine, jitTree, np, readF32, refTree, valueAndGradTree, type JaxArray,
} from '../core/engine.js';
import type { Key } from '../core/key.js';
import type { Parametrisation } from '../diffusion/parametrisation.js';
import { adamBiasCorrections, adamLeaf, clipFactor, globalNorm } from './adam.js';
import { emaDecayAt, emaLeaf } from './ema.js';
import {
  checkWeighting, diffusionCoefficients, prepareBatch, type DiffusionConfig, type PreparedBatch, type TimeSampling,
} from './loss.js';
import { learningRate } from './lr.js';
import { isScaledMlp, SCALED_MLP_ON_ORT } from './mlp.js';
import { architecture, engineBuffers, type Architecture, type EngineWeights, type NetworkSpec } from './architecture.js';
import { fromEngineWeights, toEngineWeights, transposeData } from './layers.js';
import { checkTensors, cloneTensors, zerosLike, type Tensors } from './tensors.js';

export type { Tensors } from './tensors.js';

export interface TrainConfig {
  /** Batch size (the trainer accepts any batch; this is what the CLI draws). */
  batch: number;
  /** Peak learning rate. */
  lr: number;
  warmupSteps: number;
  /** Length of the cosine decay (and of a default run). */
  totalSteps: number;
  lrSchedule: 'cosine' | 'constant';
  /** The cosine decays to `minLrFactor * lr`. */
  minLrFactor: number;
  adam: { beta1: number; beta2: number; eps: number };
  /** Global gradient-norm threshold (`<= 0` or `Infinity`: no clipping). */
  clipNorm: number;
  /** EMA decay (with the warm-up `min(decay, (1+k)/(10+k))`, see `ema.ts`). */
  emaDecay: number;
  parametrisation: Parametrisation;
  /** Time weighting: 'uniform' | 'sigma2' | 'likelihood' (see `loss.ts`). */
  weighting: string;
  /** Smallest training time of the continuous VP (`t ~ U[tMin, 1]`). */
  tMin: number;
  /** Training-time distribution on the continuous VP: 'uniform' in t or 'logsnr' (see `loss.ts`). */
  timeSampling?: TimeSampling;
  diffusion: DiffusionConfig;
}

/**
 * Defaults: Adam 3e-3 with 200 warm-up steps and cosine decay to 1% over 20k steps, batch 1024,
 * clipping at norm 1, EMA 0.999, noise parametrisation with the DDPM simple loss, continuous VP
 * (0.1, 20) with tMin = 1e-3 and log-SNR-uniform training times.
 * Measured on 2spirals (JSD, 64x64 bins on [-4.5, 4.5]^2, 10,000 vs 10,000, floor 0.030; 10k
 * steps, 1000 Euler–Maruyama steps): the anchor settings (lr 1e-3, uniform t) 0.128;
 * lr 3e-3 0.087; lr 3e-3 with log-SNR times 0.063 (PyTorch prototype) and 0.058 here; the
 * same at 20k steps 0.040 (PyTorch prototype, 1.4x the floor). 20k steps take ~5 minutes here.
 */
export function defaultTrainConfig(): TrainConfig {
  return {
    batch: 1024,
    lr: 3e-3,
    warmupSteps: 200,
    totalSteps: 20_000,
    lrSchedule: 'cosine',
    minLrFactor: 0.01,
    adam: { beta1: 0.9, beta2: 0.999, eps: 1e-8 },
    clipNorm: 1,
    emaDecay: 0.999,
    parametrisation: 'noise',
    weighting: 'uniform',
    tMin: 1e-3,
    timeSampling: 'logsnr',
    diffusion: { kind: 'vp', betaMin: 0.1, betaMax: 20 },
  };
}

export function checkTrainConfig(c: TrainConfig): void {
  const pos = (v: number, name: string): void => {
    if (!(v > 0) || !Number.isFinite(v)) throw new RangeError(`training ${name} must be a positive number, got ${v}`);
  };
  if (!Number.isInteger(c.batch) || c.batch < 1) throw new RangeError(`training batch must be a positive integer, got ${c.batch}`);
  pos(c.lr, 'lr');
  if (!Number.isInteger(c.warmupSteps) || c.warmupSteps < 0) throw new RangeError(`warmupSteps must be an integer >= 0, got ${c.warmupSteps}`);
  if (!Number.isInteger(c.totalSteps) || c.totalSteps < 1) throw new RangeError(`totalSteps must be a positive integer, got ${c.totalSteps}`);
  if (c.lrSchedule !== 'cosine' && c.lrSchedule !== 'constant') throw new RangeError(`lrSchedule must be 'cosine' or 'constant', got '${String(c.lrSchedule)}'`);
  if (!(c.minLrFactor >= 0 && c.minLrFactor <= 1)) throw new RangeError(`minLrFactor must lie in [0, 1], got ${c.minLrFactor}`);
  if (!(c.adam.beta1 >= 0 && c.adam.beta1 < 1) || !(c.adam.beta2 >= 0 && c.adam.beta2 < 1)) {
    throw new RangeError(`Adam betas must lie in [0, 1), got ${c.adam.beta1}, ${c.adam.beta2}`);
  }
  pos(c.adam.eps, 'adam.eps');
  if (Number.isNaN(c.clipNorm)) throw new RangeError('clipNorm must be a number');
  if (!(c.emaDecay >= 0 && c.emaDecay < 1)) throw new RangeError(`emaDecay must lie in [0, 1), got ${c.emaDecay}`);
  if (!['score', 'noise', 'mean'].includes(c.parametrisation)) throw new RangeError(`unknown parametrisation '${String(c.parametrisation)}'`);
  checkWeighting(c.weighting);
  diffusionCoefficients(c); // validates the diffusion and tMin
}

export interface TrainState {
  /** Number of updates applied so far (skipped steps do not count). */
  step: number;
  params: Tensors;
  ema: Tensors;
  adamM: Tensors;
  adamV: Tensors;
}

/** Fresh state: the architecture's init from `key` (`initMlp`, `initEgnn`), EMA equal to it, zero Adam moments, step 0. */
export function initTrainState(key: Key, net: NetworkSpec, train: TrainConfig): TrainState {
  checkTrainConfig(train);
  const params = architecture(net).init(key);
  return { step: 0, params, ema: cloneTensors(params), adamM: zerosLike(params), adamV: zerosLike(params) };
}

export interface StepReport {
  /** Updates applied after this step. */
  step: number;
  /** The (weighted) loss of this batch before the update. */
  loss: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  /** Learning rate used (or that would have been used, when skipped). */
  lr: number;
  skipped: boolean;
  reason?: string;
}

export interface Trainer {
  /** One step on data batch `x0` with the step's noise from `key` (callers pass `foldIn(noiseKey, step)`). */
  step(x0: Batch, key: Key): StepReport;
  /**
   * One step on a batch whose `x_t`, times, regression targets and weights the caller built
   * (e.g. the amortized sampler's posterior-mean targets); `step` is `prepareBatch` + this.
   */
  stepPrepared(b: PreparedBatch): StepReport;
  /** The state as float32 tensors (copies), for checkpoints and exact resumption. */
  snapshot(): TrainState;
  /** Give back the engine memory. */
  dispose?(): void;
  /** The engine running the step (absent: jax-js). */
  readonly engine?: TrainEngine;
}

/**
 * Engines of the training step: 'jax' (one compiled jax-js program, any architecture) or
 * 'onnxruntime' (one ONNX graph: the MLP's hand-written, `onnx-train-step.ts`; the EGNN's with
 * its backward derived by `core/onnx-autodiff.ts`, `onnx-egnn-train-step.ts`).
 */
export const TRAIN_ENGINES = ['auto', 'jax', 'onnxruntime'] as const;
export type TrainEngineChoice = (typeof TRAIN_ENGINES)[number];
export type TrainEngine = Exclude<TrainEngineChoice, 'auto'>;

export interface TrainerOptions {
  /**
   * ['jax'] 'auto': onnxruntime for an MLP or EGNN when onnxruntime-node is installed, else
   * jax-js (one process warning when the package is absent; an MLP with inputScale/outputScale
   * always trains on jax-js); 'onnxruntime': onnxruntime, an error when it is not installed or
   * the network is a scaled MLP.
   */
  engine?: TrainEngineChoice;
  /** onnxruntime intra-op threads [1]. */
  threads?: number;
}

/**
 * Engine-side training state: each of params, Adam moments and EMA is ONE flat float32 vector
 * (the parameter tensors in engine layout laid end to end, see `FlatLayout`). Why flat: the optimiser part
 * of the step (clip, Adam, EMA, NaN select) then compiles to a handful of kernels over one
 * vector instead of ~8 kernels per parameter array; at batch 64 the step was bound by kernel
 * launches (124 per step with per-leaf state, each costing tens of microseconds in jax-js).
 */
type EngineState = { p: JaxArray; m: JaxArray; v: JaxArray; ema: JaxArray };

/** Where each parameter array lives in the flat vector (engine layout: weights `[in, out]`). */
interface FlatLayout {
  size: number;
  leaves: { name: string; shape: number[]; offset: number; size: number; transposed: boolean }[];
}

/** 2-D tensors (weights) first, then the rest, each in spec order (for the MLP: weights, then biases). */
function flatLayout(arch: Architecture): FlatLayout {
  const specs = arch.tensorSpecs();
  const weights = specs.filter((s) => s.shape.length === 2);
  const others = specs.filter((s) => s.shape.length !== 2);
  const out: FlatLayout['leaves'] = [];
  let offset = 0;
  for (const s of [...weights, ...others]) {
    const size = s.shape.reduce((a, b) => a * b, 1);
    const transposed = s.shape.length === 2;
    out.push({ name: s.name, shape: transposed ? [s.shape[1], s.shape[0]] : [...s.shape], offset, size, transposed });
    offset += size;
  }
  return { size: offset, leaves: out };
}

/** Tensors (PyTorch layout) -> one flat float32 vector in engine layout. */
function flatten(layout: FlatLayout, t: Tensors): Float32Array {
  const out = new Float32Array(layout.size);
  for (const l of layout.leaves) {
    const d = t[l.name].data;
    out.set(l.transposed ? transposeData(d, l.shape[1], l.shape[0]) : d, l.offset);
  }
  return out;
}

/** The inverse of `flatten`. */
function unflatten(layout: FlatLayout, flat: Float32Array): Tensors {
  const out: Tensors = {};
  for (const l of layout.leaves) {
    const d = flat.subarray(l.offset, l.offset + l.size);
    out[l.name] = l.transposed
      ? { shape: [l.shape[1], l.shape[0]], data: transposeData(d, l.shape[0], l.shape[1]) }
      : { shape: [...l.shape], data: d.slice() };
  }
  return out;
}

/** Views of the flat vector as engine weights by name (inside a traced function; non-consuming). */
function unpack(layout: FlatLayout, flat: JaxArray): EngineWeights {
  const out: EngineWeights = {};
  for (const l of layout.leaves) out[l.name] = flat.ref.slice([l.offset, l.offset + l.size]).reshape(l.shape);
  return out;
}

/** The gradient tree as one flat vector in `layout` order (inside a traced function). */
function flatGrad(layout: FlatLayout, g: EngineWeights): JaxArray {
  return np.concatenate(layout.leaves.map((l) => np.reshape(g[l.name], [l.size])), 0);
}

/**
 * The loss on engine arrays: `(1/(n d)) sum_i w_i |f(x_t, t) - target|^2` (non-consuming).
 * `p` are the trained tensors (differentiated), `buffers` the fixed ones.
 */
function lossOf(
  arch: Architecture, p: EngineWeights, buffers: EngineWeights, xt: JaxArray, t: JaxArray, target: JaxArray, w: JaxArray,
): JaxArray {
  const out = arch.apply({ ...p, ...buffers }, xt, t);
  const [n, d] = xt.shape;
  return np.divide(np.sum(np.multiply(w, np.square(np.subtract(out, target)))), n * d);
}

interface BatchArrays {
  xt: JaxArray;
  t: JaxArray;
  target: JaxArray;
  w: JaxArray;
}

function batchArrays(b: PreparedBatch): BatchArrays {
  return {
    xt: arrayF32(Float32Array.from(b.xt), [b.n, b.dim]),
    t: arrayF32(Float32Array.from(b.t), [b.n, 1]),
    target: arrayF32(Float32Array.from(b.target), [b.n, b.dim]),
    w: arrayF32(Float32Array.from(b.w), [b.n, 1]),
  };
}

/** `[xt (n d), target (n d), t (n), w (n), hyper (4)]` in one float32 buffer. */
function packStep(b: PreparedBatch, hyper: number[]): Float32Array {
  const nd = b.n * b.dim;
  const out = new Float32Array(2 * nd + 2 * b.n + hyper.length);
  out.set(b.xt, 0);
  out.set(b.target, nd);
  out.set(b.t, 2 * nd);
  out.set(b.w, 2 * nd + b.n);
  out.set(hyper, 2 * nd + 2 * b.n);
  return out;
}

/** Views of a `packStep` buffer inside the compiled step (non-consuming). */
function unpackStep(packed: JaxArray, n: number, dim: number): { ba: BatchArrays; hyper: JaxArray } {
  const nd = n * dim;
  const part = (from: number, to: number, shape: number[]): JaxArray => packed.ref.slice([from, to]).reshape(shape);
  return {
    ba: {
      xt: part(0, nd, [n, dim]),
      target: part(nd, 2 * nd, [n, dim]),
      t: part(2 * nd, 2 * nd + n, [n, 1]),
      w: part(2 * nd + n, 2 * nd + 2 * n, [n, 1]),
    },
    hyper: part(2 * nd + 2 * n, 2 * nd + 2 * n + 4, [4]),
  };
}

/**
 * Loss and parameter gradient on a prepared batch, through the same compiled loss the trainer
 * differentiates (for gradient checks). The engine must be started.
 */
export function lossAndGradient(net: NetworkSpec, params: Tensors, batch: PreparedBatch): { loss: number; grad: Tensors } {
  const arch = architecture(net);
  const specs = arch.tensorSpecs();
  const p = toEngineWeights(specs, params, `${arch.describe()} parameters`);
  const buffers = engineBuffers(arch);
  const a = batchArrays(batch);
  const f = jitTree((pp: EngineWeights, bu: EngineWeights, ba: BatchArrays) => {
    const [l, g] = valueAndGradTree((q: EngineWeights) => lossOf(arch, q, bu, ba.xt, ba.t, ba.target, ba.w))(refTree(pp));
    return [np.add(l, 0), g] as [JaxArray, EngineWeights];
  });
  const [l, g] = f(p, buffers, a);
  f.dispose();
  return { loss: readF32(l)[0], grad: fromEngineWeights(specs, g) };
}

class JitTrainer implements Trainer {
  private st: EngineState | undefined;
  private stepCount: number;
  private readonly buffers: EngineWeights;
  private readonly layout: FlatLayout;
  private readonly coef;
  private readonly fn;
  readonly engine = 'jax' as const;

  constructor(private readonly arch: Architecture, private readonly cfg: TrainConfig, state: TrainState) {
    this.stepCount = state.step;
    this.coef = diffusionCoefficients(cfg);
    const layout = flatLayout(arch);
    this.layout = layout;
    const vec = (t: Tensors): JaxArray => arrayF32(flatten(layout, t), [layout.size]);
    this.st = { p: vec(state.params), m: vec(state.adamM), v: vec(state.adamV), ema: vec(state.ema) };
    this.buffers = engineBuffers(arch);
    const dim = arch.dim;
    const adam = cfg.adam;
    const clip = cfg.clipNorm;
    // hyper = [lr, 1/(1-b1^t), 1/(1-b2^t), emaDecay_k]: the per-step scalars (float64 in TS).
    // One input buffer per step (`packStep`): fewer arrays to create and hand over per step.
    this.fn = jitTree((st: EngineState, buffers: EngineWeights, packed: JaxArray) => {
      const n = (packed.shape[0] - 4) / (2 * dim + 2);
      const { ba, hyper } = unpackStep(packed, n, dim);
      const [loss, gt] = valueAndGradTree((q: EngineWeights) => lossOf(arch, q, buffers, ba.xt, ba.t, ba.target, ba.w))(unpack(layout, st.p));
      const g = flatGrad(layout, gt);
      const gnorm = globalNorm([g]);
      const cf = clipFactor(gnorm, clip);
      const lr = hyper.ref.slice(0);
      const c1 = hyper.ref.slice(1);
      const c2 = hyper.ref.slice(2);
      const d = hyper.ref.slice(3);
      const ok = np.logicalAnd(np.isfinite(loss), np.isfinite(gnorm));
      const [p2, m2, v2] = adamLeaf(adam, st.p, np.multiply(g, cf), st.m, st.v, lr, c1, c2);
      const e2 = emaLeaf(st.ema, p2, d);
      const next: EngineState = {
        p: np.where(ok, p2, st.p), m: np.where(ok, m2, st.m), v: np.where(ok, v2, st.v), ema: np.where(ok, e2, st.ema),
      };
      return [next, np.stack([loss, gnorm])] as [EngineState, JaxArray];
    });
  }

  step(x0: Batch, key: Key): StepReport {
    if (this.st === undefined) throw new Error('trainer used after dispose()');
    if (x0.dim !== this.arch.dim) throw new RangeError(`training data has dimension ${x0.dim}, the network expects ${this.arch.dim}`);
    if (x0.n < 1) throw new RangeError('training batch is empty');
    return this.stepPrepared(prepareBatch(this.cfg, this.coef, x0, key));
  }

  stepPrepared(b: PreparedBatch): StepReport {
    if (this.st === undefined) throw new Error('trainer used after dispose()');
    if (b.dim !== this.arch.dim) throw new RangeError(`training batch has dimension ${b.dim}, the network expects ${this.arch.dim}`);
    if (b.n < 1) throw new RangeError('training batch is empty');
    const k = this.stepCount;
    const lr = learningRate(this.cfg, k);
    const { c1, c2 } = adamBiasCorrections(this.cfg.adam, k + 1);
    const d = emaDecayAt(this.cfg.emaDecay, k);
    const packed = arrayF32(packStep(b, [lr, c1, c2, d]), [b.n * (2 * b.dim + 2) + 4]);
    const [next, stats] = this.fn(this.st, refTree(this.buffers), packed); // consumes the old state
    this.st = next;
    const [loss, gradNorm] = readF32(stats);
    if (!Number.isFinite(loss) || !Number.isFinite(gradNorm)) {
      const reason = !Number.isFinite(loss) ? `non-finite loss (${loss})` : `non-finite gradient norm (${gradNorm})`;
      return { step: k, loss, gradNorm, lr, skipped: true, reason: `${reason}: update not applied, last good state kept` };
    }
    this.stepCount = k + 1;
    return { step: k + 1, loss, gradNorm, lr, skipped: false };
  }

  snapshot(): TrainState {
    if (this.st === undefined) throw new Error('trainer used after dispose()');
    const read = (a: JaxArray): Tensors => unflatten(this.layout, readF32(a.ref));
    return { step: this.stepCount, params: read(this.st.p), ema: read(this.st.ema), adamM: read(this.st.m), adamV: read(this.st.v) };
  }

  dispose(): void {
    if (this.st !== undefined) disposeTree(this.st);
    this.st = undefined;
    disposeTree(this.buffers);
    this.fn.dispose();
  }
}

/**
 * A trainer continuing from `state` (fresh from `initTrainState`, or a checkpoint's), for any
 * architecture: `createTrainer(mlpConfig, ...)` or `createTrainer({ kind: 'egnn', ...egnnConfig }, ...)`.
 */
export async function createTrainer(net: NetworkSpec, train: TrainConfig, state: TrainState, opts: TrainerOptions = {}): Promise<Trainer> {
  const arch = checkTrainerInputs(net, train, state);
  const engine = opts.engine ?? 'jax';
  if (!(TRAIN_ENGINES as readonly string[]).includes(engine)) throw new RangeError(`unknown training engine '${String(engine)}' (expected one of ${TRAIN_ENGINES.join(', ')})`);
  // The hand-written ONNX step has no input/output scaling (MlpConfig.inputScale): jax-js trains those.
  const scaled = arch.config.kind === 'mlp' && isScaledMlp(arch.config);
  if (engine === 'onnxruntime' && scaled) throw new RangeError(SCALED_MLP_ON_ORT);
  if (engine !== 'jax' && !scaled) {
    // Loaded lazily: the ONNX graph builder and onnxruntime are not needed on the jax-js path.
    const { ortTrainerOrUndefined } = await import('./onnx-train-step.js');
    const tr = ortTrainerOrUndefined(arch.config, train, state, engine, opts.threads);
    if (tr !== undefined) return tr;
  }
  await initEngine();
  enableKernelInstanceCache();
  return new JitTrainer(arch, train, state);
}


/** Validates the config and the state against the network; returns its architecture. */
export function checkTrainerInputs(net: NetworkSpec, train: TrainConfig, state: TrainState): Architecture {
  const arch = architecture(net);
  checkTrainConfig(train);
  if (!Number.isInteger(state.step) || state.step < 0) throw new RangeError(`training state step must be an integer >= 0, got ${state.step}`);
  const specs = arch.tensorSpecs();
  checkTensors(state.params, specs, 'training state params');
  checkTensors(state.ema, specs, 'training state ema');
  checkTensors(state.adamM, specs, 'training state adamM');
  checkTensors(state.adamV, specs, 'training state adamV');
  return arch;
}
