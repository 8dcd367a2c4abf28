/**
 * The DSM training step of the MLP score network as ONE hand-written ONNX inference graph, run by
 * onnxruntime-node: forward, backward (derived by hand below), global-norm clipping, Adam and EMA.
 * `OrtTrainer` is a second `Trainer` (`train.ts`) with the same semantics as the jax-js
 * `JitTrainer`, to float32 rounding (tested against it step by step).
 *
 * Why: the jax-js step is bound by ~58 kernel launches at batch 64 and by jax-js's wasm matmul at
 * batch 1024 (README, "Speed against references"); onnxruntime has MLAS GEMMs and a few
 * microseconds per op, but no training API in the inference package. The gradient of this
 * network is short enough to write out, so the whole step becomes one inference graph (77
 * nodes for the default 3 x 128). Measured on the default network, 1 thread: batch 64 ~0.45 ms
 * per run, of which ~0.27 ms is the optimiser part (18 elementwise passes over the 37,762
 * parameters and the four state outputs), independent of the batch; batch 1024 ~2.5 ms, about
 * 55% of it in the eight GEMMs.
 *
 * Graph (PyTorch layout throughout, weights `W_l` `[out, in]`; `n` symbolic). The inputs, the
 * loss, the optimiser and the outputs are shared with the EGNN's step (`onnx-step-graph.ts`);
 * the network part is
 *
 *   forward  phase = t freqs;  h_0 = [xt, sin(phase), cos(phase)]
 *            z_l = h_l W_l^T + b_l;  s_l = sigmoid(z_l);  h_{l+1} = z_l s_l      (l < L)
 *            out = h_L W_L^T + b_L
 *   backward (chain rule, row i of the batch; `.` elementwise; g_L = dloss/dout)
 *            dloss/dW_l      = g_l^T h_l          (z_l = h_l W_l^T + b_l is linear in W_l)
 *            dloss/db_l      = sum_rows g_l
 *            dloss/dh_l      = g_l W_l            (l >= 1; the input h_0 needs no gradient)
 *            dloss/dz_{l-1}  = g_{l-1} = dloss/dh_l . silu'(z_{l-1}),
 *              silu'(z) = d(z s)/dz = s + z s (1 - s) = s + h - h s   with h = z s
 *
 * Flat layout (`FlatLayout`): the parameter tensors in spec order (`layers.0.weight`,
 * `layers.0.bias`, ...), each in PyTorch layout, laid end to end.
 *
 * The EGNN (`onnx-egnn-train-step.ts`) runs through the same `OrtTrainer`, with a backward
 * derived from its forward nodes by `core/onnx-autodiff.ts`.
 *
 * State between steps: two sets of float32 buffers bound as onnxruntime tensors; each step reads
 * one set and writes the other through pre-allocated outputs (`OrtSession.runBound`), so our
 * code copies nothing (onnxruntime-node 1.30 still hands back a copy of each output, ~11 us per
 * state vector of the default network, measured). The NaN guard is that swap: when the loss or
 * the gradient norm comes back non-finite the written set is simply not adopted, the state stays
 * exactly as it was and the step is reported skipped — what the jax-js step's
 * `where(isfinite(..), new, old)` does, without four selects over the state in the graph.
 */
import type { Batch } from '../core/batch.js';
import type { Key } from '../core/key.js';
import { floatTensor, int64Tensor } from '../core/onnx-graph.js';
import { createOrtSession, loadOnnxRuntime, onnxRuntimeLoadError, type OrtBoundTensor, type OrtSession } from '../core/onnx-runtime.js';
import { adamBiasCorrections } from './adam.js';
import type { NetworkSpec } from './architecture.js';
import { egnnTensorSpecs } from './egnn.js';
import { emaDecayAt } from './ema.js';
import { embeddingFrequencies } from './embedding.js';
import { diffusionCoefficients, prepareBatch, type PreparedBatch } from './loss.js';
import { learningRate } from './lr.js';
import { checkMlpConfig, isScaledMlp, mlpTensorSpecs, SCALED_MLP_ON_ORT, type MlpConfig } from './mlp.js';
import { egnnTrainStepOnnxBytes } from './onnx-egnn-train-step.js';
import {
  dsmLossNodes, flatLayoutOf, flattenTensors, HYPER_SIZE, optimiserNodes, paramViews, STATE_IN, stepGraph, stepModelBytes,
  unflattenTensors, type FlatLayout,
} from './onnx-step-graph.js';
import { checkTrainerInputs, type StepReport, type Trainer, type TrainConfig, type TrainState } from './train.js';
import type { Tensors } from './tensors.js';

export type { FlatLayout } from './onnx-step-graph.js';

export function mlpFlatLayout(cfg: MlpConfig): FlatLayout {
  return flatLayoutOf(mlpTensorSpecs(cfg));
}

/**
 * The ONNX bytes of one training step of the MLP `cfg` under `train`'s Adam, clipping (see the
 * module comment). The constants (betas, eps, clip threshold, time frequencies) are initializers;
 * everything that changes per step is an input.
 */
export function mlpTrainStepOnnxBytes(cfg: MlpConfig, train: TrainConfig): Uint8Array {
  checkMlpConfig(cfg);
  const layout = mlpFlatLayout(cfg);
  const L = cfg.depth;
  const freqs = embeddingFrequencies(cfg.embDim);
  const { g, hyper } = stepGraph(train);
  const { op } = g;
  g.initializer.push(floatTensor('time_embedding.freqs', [1, freqs.length], Float32Array.from(freqs)), int64Tensor('axes.0', [1], [0]));
  const views = paramViews(g, layout);
  const W: string[] = [];
  const b: string[] = [];
  for (let l = 0; l <= L; l++) {
    W.push(views[`layers.${l}.weight`]);
    b.push(views[`layers.${l}.bias`]);
  }

  // Forward, keeping z_l, s_l, h_l for the backward.
  const phase = op('Mul', ['t', 'time_embedding.freqs'], 'phase');
  const h: string[] = [op('Concat', ['xt', op('Sin', [phase], 'emb_sin'), op('Cos', [phase], 'emb_cos')], 'h0', { axis: 1 })];
  const s: string[] = [];
  for (let l = 0; l < L; l++) {
    const z = op('Gemm', [h[l], W[l], b[l]], `z${l}`, { transB: 1 });
    s.push(op('Sigmoid', [z], `s${l}`));
    h.push(op('Mul', [z, s[l]], `h${l + 1}`));
  }
  const out = op('Gemm', [h[L], W[L], b[L]], 'out', { transB: 1 });
  const { loss, gradOut } = dsmLossNodes(g, out, hyper);
  let gz = gradOut; // dloss/dout = (2/(n d)) w . r

  // Backward, layer by layer from the output.
  const gradW: string[] = new Array<string>(L + 1);
  const gradB: string[] = new Array<string>(L + 1);
  for (let l = L; l >= 0; l--) {
    gradW[l] = op('Gemm', [gz, h[l]], `grad.W${l}`, { transA: 1 }); // g_l^T h_l, [out, in]
    gradB[l] = op('ReduceSum', [gz, 'axes.0'], `grad.b${l}`, { keepdims: 0 });
    if (l === 0) break;
    const gh = op('Gemm', [gz, W[l]], `grad.h${l}`); // dloss/dh_l = g_l W_l
    // silu'(z) = s + h - h s  (h = z s)
    const dsilu = op('Sub', [op('Add', [s[l - 1], h[l]], `silu_a${l}`), op('Mul', [h[l], s[l - 1]], `silu_hs${l}`)], `dsilu${l}`);
    gz = op('Mul', [gh, dsilu], `grad.z${l - 1}`);
  }
  const flatParts: string[] = [];
  for (let l = 0; l <= L; l++) flatParts.push(op('Reshape', [gradW[l], 'shape.flat'], `grad.W${l}.flat`), gradB[l]);
  const grad = op('Concat', flatParts, 'grad', { axis: 0 });
  optimiserNodes(g, grad, loss, hyper, train);
  return stepModelBytes(g, 'tweedie_mlp_train_step', layout.size, cfg.dim,
    `tweedie DSM training step (forward, backward, clipping, Adam, EMA) of the MLP ${L} x ${cfg.hidden}, dim ${cfg.dim}`);
}

export interface OrtTrainerOptions {
  /** onnxruntime intra-op threads [1; `src/bench/train-step.ts` measures 2 as well]. */
  threads?: number;
}

/** The batch inputs for one batch size, bound once and refilled every step. */
interface BatchBuffers {
  n: number;
  xt: OrtBoundTensor;
  t: OrtBoundTensor;
  target: OrtBoundTensor;
  w: OrtBoundTensor;
}

type StateSet = Record<(typeof STATE_IN)[number], OrtBoundTensor>;

/** A step graph (`mlpTrainStepOnnxBytes`, `egnnTrainStepOnnxBytes`) with its state layout and data dimension. */
export interface OrtStepGraph {
  bytes: Uint8Array;
  layout: FlatLayout;
  dim: number;
}

/** The training step on onnxruntime (module comment). Build with `createOrtTrainer`. */
export class OrtTrainer implements Trainer {
  readonly engine = 'onnxruntime' as const;
  private session: OrtSession | undefined;
  private readonly layout: FlatLayout;
  private readonly dim: number;
  private readonly sets: [StateSet, StateSet];
  /** Which of `sets` holds the current state. */
  private cur = 0;
  private stepCount: number;
  private readonly hyper: OrtBoundTensor;
  private readonly stats: OrtBoundTensor;
  private batch: BatchBuffers | undefined;
  private readonly coef;

  constructor(graph: OrtStepGraph, private readonly train: TrainConfig, state: TrainState, opts: OrtTrainerOptions = {}) {
    this.layout = graph.layout;
    this.dim = graph.dim;
    this.coef = diffusionCoefficients(train);
    const session = createOrtSession(graph.bytes, { threads: opts.threads ?? 1 });
    this.session = session;
    const P = this.layout.size;
    const makeSet = (): StateSet => ({
      params: session.bind(new Float32Array(P), [P]), adam_m: session.bind(new Float32Array(P), [P]),
      adam_v: session.bind(new Float32Array(P), [P]), ema: session.bind(new Float32Array(P), [P]),
    });
    this.sets = [makeSet(), makeSet()];
    flattenTensors(this.layout, state.params, this.sets[0].params.data);
    flattenTensors(this.layout, state.adamM, this.sets[0].adam_m.data);
    flattenTensors(this.layout, state.adamV, this.sets[0].adam_v.data);
    flattenTensors(this.layout, state.ema, this.sets[0].ema.data);
    this.stepCount = state.step;
    this.hyper = session.bind(new Float32Array(HYPER_SIZE), [HYPER_SIZE]);
    this.stats = session.bind(new Float32Array(2), [2]);
  }

  step(x0: Batch, key: Key): StepReport {
    if (this.session === undefined) throw new Error('trainer used after dispose()');
    if (x0.dim !== this.dim) throw new RangeError(`training data has dimension ${x0.dim}, the network expects ${this.dim}`);
    if (x0.n < 1) throw new RangeError('training batch is empty');
    return this.stepPrepared(prepareBatch(this.train, this.coef, x0, key));
  }

  private batchBuffers(n: number): BatchBuffers {
    const session = this.session!;
    if (this.batch?.n !== n) {
      const d = this.dim;
      this.batch = {
        n,
        xt: session.bind(new Float32Array(n * d), [n, d]), t: session.bind(new Float32Array(n), [n, 1]),
        target: session.bind(new Float32Array(n * d), [n, d]), w: session.bind(new Float32Array(n), [n, 1]),
      };
    }
    return this.batch;
  }

  stepPrepared(b: PreparedBatch): StepReport {
    const session = this.session;
    if (session === undefined) throw new Error('trainer used after dispose()');
    if (b.dim !== this.dim) throw new RangeError(`training batch has dimension ${b.dim}, the network expects ${this.dim}`);
    if (b.n < 1) throw new RangeError('training batch is empty');
    const k = this.stepCount;
    const lr = learningRate(this.train, k);
    const { c1, c2 } = adamBiasCorrections(this.train.adam, k + 1);
    // The decay rounded to float32 first, so that 1 - d is the float32 `1 - d` of the jax-js step.
    const d = Math.fround(emaDecayAt(this.train.emaDecay, k));
    const nd = b.n * b.dim;
    this.hyper.data.set([lr, c1, c2, d, 1 - d, 1 / nd, 2 / nd]);
    const bb = this.batchBuffers(b.n);
    bb.xt.data.set(b.xt);
    bb.t.data.set(b.t);
    bb.target.data.set(b.target);
    bb.w.data.set(b.w);
    const from = this.sets[this.cur];
    const to = this.sets[1 - this.cur];
    session.runBound(
      { ...from, xt: bb.xt, t: bb.t, target: bb.target, w: bb.w, hyper: this.hyper },
      { params_out: to.params, adam_m_out: to.adam_m, adam_v_out: to.adam_v, ema_out: to.ema, stats: this.stats },
    );
    const loss = this.stats.data[0];
    const gradNorm = this.stats.data[1];
    if (!Number.isFinite(loss) || !Number.isFinite(gradNorm)) {
      const reason = !Number.isFinite(loss) ? `non-finite loss (${loss})` : `non-finite gradient norm (${gradNorm})`;
      return { step: k, loss, gradNorm, lr, skipped: true, reason: `${reason}: update not applied, last good state kept` };
    }
    this.cur = 1 - this.cur;
    this.stepCount = k + 1;
    return { step: k + 1, loss, gradNorm, lr, skipped: false };
  }

  snapshot(): TrainState {
    if (this.session === undefined) throw new Error('trainer used after dispose()');
    const s = this.sets[this.cur];
    const read = (t: OrtBoundTensor): Tensors => unflattenTensors(this.layout, t.data);
    return { step: this.stepCount, params: read(s.params), ema: read(s.ema), adamM: read(s.adam_m), adamV: read(s.adam_v) };
  }

  dispose(): void {
    this.session?.dispose();
    this.session = undefined;
  }
}

/**
 * An onnxruntime trainer for an MLP or EGNN `net` continuing from `state` (checked as
 * `createTrainer` checks it). Throws when onnxruntime-node is not installed or `net` is an MLP
 * with `inputScale`/`outputScale` (not in the hand-written graph); the engine choice with its
 * fallback is `createTrainer(..., { engine })` in `train.ts`.
 */
export function createOrtTrainer(net: NetworkSpec, train: TrainConfig, state: TrainState, opts: OrtTrainerOptions = {}): OrtTrainer {
  const arch = checkTrainerInputs(net, train, state);
  const c = arch.config;
  if (c.kind === 'mlp' && isScaledMlp(c)) throw new RangeError(SCALED_MLP_ON_ORT);
  const graph: OrtStepGraph = c.kind === 'mlp'
    ? { bytes: mlpTrainStepOnnxBytes(c, train), layout: mlpFlatLayout(c), dim: arch.dim }
    : { bytes: egnnTrainStepOnnxBytes(c, train), layout: flatLayoutOf(egnnTensorSpecs(c)), dim: arch.dim };
  return new OrtTrainer(graph, train, state, opts);
}

/**
 * For `createTrainer`: the onnxruntime trainer when the runtime loads, else undefined (the caller
 * falls back to jax-js). 'auto' warns once per process, as the sampling path does
 * (`loadOnnxRuntime`); 'onnxruntime' throws instead.
 */
export function ortTrainerOrUndefined(
  net: NetworkSpec, train: TrainConfig, state: TrainState, engine: 'auto' | 'onnxruntime', threads?: number,
): OrtTrainer | undefined {
  if (loadOnnxRuntime({ quiet: engine === 'onnxruntime' }) === undefined) {
    if (engine === 'onnxruntime') {
      throw new Error(`onnxruntime-node is not available (${onnxRuntimeLoadError() ?? 'unknown reason'}); install it (ONNXRUNTIME_NODE_INSTALL=skip npm install) or use the jax engine`);
    }
    return undefined;
  }
  return createOrtTrainer(net, train, state, threads !== undefined ? { threads } : {});
}
