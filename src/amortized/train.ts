/**
 * Algorithm 1 of the amortized-posterior paper: train a score network to sample an unnormalised
 * density `p(x_0) ∝ exp(log p)` with no data.
 *
 *   buffer <- samples of the initial model
 *   for each epoch:
 *     for each iteration:
 *       x_0 ~ buffer (B rows),  t ~ U[tMin, 1],  x_t ~ N(alpha_t x_0, sigma_t^2 I)
 *       x0hat ~ posterior sampler for p(x_0 | x_t) ∝ p(x_0) N(x_t | alpha_t x_0, sigma_t^2 I)   (eq. 4)
 *       s_hat = (alpha_t x0hat - x_t) / sigma_t^2                                              (eq. 5)
 *       one Adam step on  w(t) |s_theta(x_t, t) - s_hat|^2  (in the network's parametrisation)
 *     buffer <- buffer ∪ samples of the current model (FIFO)
 *
 * Deviation, stated: Algorithm 1 draws one `x_0` batch per epoch and reuses it for all of that
 * epoch's iterations; here every iteration draws its own batch from the buffer (same cost, more
 * distinct inputs per epoch).
 *
 * Keys: `[init, data, buffer] = split(key(seed), 3)`; iteration k uses `foldIn(data, k)`, the
 * buffer refresh after epoch e uses `foldIn(buffer, e)`, the initial buffer `foldIn(buffer, -1 >>> 0)`:
 * a run resumed from a checkpoint repeats what an uninterrupted one does.
 *
 * Beyond the paper (`referencePilot`, the default's): a short SMC pilot on the target gives the
 * posterior sampler a reference prior and seeds the buffer in place of the untrained model's
 * samples (`reference.ts`).
 *
 * Regression targets in the network's parametrisation: noise `eps_hat = (x_t - alpha x0hat) / sigma`,
 * mean `x0hat`; the weight `w(t)` multiplies the squared error in that parametrisation (the
 * paper's GMM-40 setting: noise, `w = 1/alpha_t`; DW-4: mean, constant `w`).
 */
import { makeBatch, type Batch } from '../core/batch.js';
import { foldIn, keyFromSeed, normal, split, uniform, type Key } from '../core/key.js';
import type { Target } from '../core/types.js';
import { loadOnnxRuntime, onnxRuntimeLoadError } from '../core/onnx-runtime.js';
import { removeCentreOfMass } from '../targets/dw4.js';
import { sampleReverseSDE } from '../diffusion/em.js';
import type { DiffusionSDE } from '../diffusion/types.js';
import { VESDE } from '../diffusion/ve.js';
import { VPSDE } from '../diffusion/vp.js';
import type { PreparedBatch } from '../models/loss.js';
import { architecture, type NetworkSpec } from '../models/architecture.js';
import { exportedNetworkPredictor } from '../io/onnx-export.js';
import { defaultMlpConfig, networkScoreModel } from '../models/mlp.js';
import { onnxScoreModel } from '../models/onnx-predictor.js';
import { type TrainConfig, type TrainEngineChoice, type TrainState, type Trainer, createTrainer, initTrainState } from '../models/train.js';
import { checkAisPosteriorOptions, paperAisOptions } from './ais-posterior.js';
import { ReplayBuffer } from './buffer.js';
import type { PosteriorEstimate } from './estimate.js';
import { checkHmcPosteriorOptions, paperHmcOptions } from './hmc-posterior.js';
import { type ChunkRunner, type PosteriorConfig, estimatePosteriorMeans, inThreadRunner } from './posterior-means.js';
import { scoreTargets, type GaussianReference } from './posterior.js';
import { checkReferencePilot, pilotReference, type ReferencePilotOptions } from './reference.js';
import { checkTargetReplay, TargetReplay, type TargetReplayOptions } from './target-replay.js';
import { workerPoolRunner } from './worker-pool.js';

export type { PosteriorConfig } from './posterior-means.js';

export const AMORTIZED_WEIGHTINGS = ['inverse-alpha', 'uniform', 'sigma2'] as const;
export type AmortizedWeighting = (typeof AMORTIZED_WEIGHTINGS)[number];

export interface AmortizedConfig {
  /** The score network: an MLP (GMM-40) or an EGNN (particle systems such as DW-4). */
  network: NetworkSpec;
  /** Network output: noise (paper, GMM-40), mean (paper, DW-4) or score (iDEM). */
  parametrisation: 'noise' | 'mean' | 'score';
  /** `w(t)`: `1/alpha_t` (paper, GMM-40), 1 (paper, DW-4) or `sigma_t^2` (iDEM, on the score). */
  weighting: AmortizedWeighting;
  /** VP (the paper) or VE with geometric noise (iDEM). */
  diffusion: { kind: 'vp'; betaMin: number; betaMax: number } | { kind: 've'; sigmaMin: number; sigmaMax: number };
  /** Learning rate over the run: constant (the paper) or cosine decay to 1% [constant]. */
  lrSchedule?: 'constant' | 'cosine';
  /** Training times `t ~ U[tMin, 1]`. */
  tMin: number;
  epochs: number;
  iterationsPerEpoch: number;
  batch: number;
  lr: number;
  clipNorm: number;
  emaDecay: number;
  buffer: {
    capacity: number;
    /** Model samples added after every epoch (and drawn to fill it at the start). */
    refresh: number;
    /** Reverse-SDE (Euler–Maruyama) steps of those samples (paper: 100 diffusion steps). */
    sampleSteps: number;
  };
  posterior: PosteriorConfig;
  /**
   * A particle system (e.g. DW-4: 4 particles in 2-D): the centre of mass is removed from buffer
   * samples, from the training noise and from the posterior-mean targets, so that everything the
   * network sees lives in the centre-of-mass-free subspace where a translation-invariant energy is
   * normalisable (SPEC §3) and where the EGNN's output lives.
   */
  particles?: { count: number; spaceDim: number };
  /**
   * Shape the AIS base and the HMC starts by a reference prior from a short SMC pilot on the target
   * (`reference.ts`; beyond the paper) [absent: the paper's base, the likelihood].
   */
  referencePilot?: ReferencePilotOptions;
  /**
   * Keep the last `capacity` regression rows and take `updates` Adam steps per iteration on
   * batches drawn from them (`target-replay.ts`; beyond the paper) [absent: one step on the
   * iteration's own batch, as in Algorithm 1].
   */
  targetReplay?: TargetReplayOptions;
  seed: number;
}

/** The paper's GMM-40 setting (Appendix C) for a target of dimension `dim`. */
export function paperAmortizedConfig(dim: number, posterior: 'ais' | 'hmc' = 'ais'): AmortizedConfig {
  return {
    network: defaultMlpConfig(dim),
    parametrisation: 'noise',
    weighting: 'inverse-alpha',
    diffusion: { kind: 'vp', betaMin: 0.1, betaMax: 20 },
    tMin: 1e-3,
    epochs: 1000,
    iterationsPerEpoch: 100,
    batch: 64,
    lr: 5e-4,
    clipNorm: 10,
    emaDecay: 0.999,
    buffer: { capacity: 10_000, refresh: 256, sampleSteps: 100 },
    posterior: posterior === 'ais' ? { kind: 'ais', ...paperAisOptions() } : { kind: 'hmc', ...paperHmcOptions() },
    seed: 0,
  };
}

export function checkAmortizedConfig(c: AmortizedConfig): void {
  const int = (v: number, name: string): void => {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`amortized ${name} must be a positive integer, got ${v}`);
  };
  int(c.epochs, 'epochs');
  int(c.iterationsPerEpoch, 'iterationsPerEpoch');
  int(c.batch, 'batch');
  int(c.buffer.capacity, 'buffer.capacity');
  int(c.buffer.refresh, 'buffer.refresh');
  int(c.buffer.sampleSteps, 'buffer.sampleSteps');
  if (!(c.tMin > 0 && c.tMin < 1)) throw new RangeError(`amortized tMin must lie in (0, 1), got ${c.tMin}`);
  if (!(AMORTIZED_WEIGHTINGS as readonly string[]).includes(c.weighting)) {
    throw new RangeError(`amortized weighting must be one of ${AMORTIZED_WEIGHTINGS.join(', ')}, got '${String(c.weighting)}'`);
  }
  if (!['noise', 'mean', 'score'].includes(c.parametrisation)) throw new RangeError(`amortized parametrisation must be 'noise', 'mean' or 'score', got '${String(c.parametrisation)}'`);
  if (c.diffusion.kind !== 'vp' && c.diffusion.kind !== 've') throw new RangeError(`amortized diffusion must be 'vp' or 've', got '${String((c.diffusion as { kind: unknown }).kind)}'`);
  if (c.lrSchedule !== undefined && c.lrSchedule !== 'constant' && c.lrSchedule !== 'cosine') throw new RangeError(`amortized lrSchedule must be 'constant' or 'cosine', got '${String(c.lrSchedule)}'`);
  if (c.posterior.kind === 'ais') checkAisPosteriorOptions(c.posterior);
  else if (c.posterior.kind === 'hmc') checkHmcPosteriorOptions(c.posterior);
  else if (c.posterior.kind === 'idem') {
    if (!Number.isInteger(c.posterior.samples) || c.posterior.samples < 1) throw new RangeError(`iDEM samples must be a positive integer, got ${c.posterior.samples}`);
    if (!(c.posterior.clip > 0)) throw new RangeError(`iDEM clip must be positive, got ${c.posterior.clip}`);
  } else throw new RangeError(`amortized posterior must be 'ais', 'hmc' or 'idem', got '${String((c.posterior as { kind: unknown }).kind)}'`);
  if (c.targetReplay !== undefined) checkTargetReplay(c.targetReplay);
  if (c.referencePilot !== undefined) {
    checkReferencePilot(c.referencePilot);
    if (c.posterior.kind === 'idem') throw new RangeError('amortized referencePilot shapes the AIS/HMC posterior sampler; iDEM has none');
  }
}

/** The DSM trainer's configuration that this run's Adam/EMA/clipping come from. */
export function innerTrainConfig(c: AmortizedConfig): TrainConfig {
  return {
    batch: c.batch,
    lr: c.lr,
    warmupSteps: 0,
    totalSteps: c.epochs * c.iterationsPerEpoch * (c.targetReplay?.updates ?? 1),
    lrSchedule: c.lrSchedule ?? 'constant',
    minLrFactor: 0.01,
    adam: { beta1: 0.9, beta2: 0.999, eps: 1e-8 },
    clipNorm: c.clipNorm,
    emaDecay: c.emaDecay,
    parametrisation: c.parametrisation,
    weighting: 'uniform', // unused: the amortized batch carries its own w(t)
    tMin: c.tMin,
    diffusion: c.diffusion,
  };
}

export interface IterationReport {
  iteration: number;
  loss: number;
  gradNorm: number;
  skipped: boolean;
  /** Mean posterior ESS over the batch (AIS) or chains per problem (HMC). */
  ess: number;
  acceptance: number;
  refineAcceptance: number;
  targetEvaluations: number;
  /** Rows dropped from the batch because their posterior estimate was not finite. */
  dropped: number;
  nonFinite: number;
}

export interface EpochReport {
  epoch: number;
  iterations: number;
  meanLoss: number;
  skipped: number;
  dropped: number;
  nonFinite: number;
  meanEss: number;
  meanAcceptance: number;
  targetEvaluations: number;
  bufferSize: number;
  bufferSkipped: number;
}

/** Everything a resumed run needs besides the config. */
export interface AmortizedSnapshot {
  /** Epochs completed. */
  epoch: number;
  train: TrainState;
  /** The buffer's rows, oldest first. */
  buffer: Batch;
  /** The target replay's packed rows, oldest first (runs with `targetReplay`). */
  targets?: Batch;
  /** Target evaluations spent so far. */
  targetEvaluations: number;
}

/**
 * One prepared batch from buffer rows `x0`: times, noisy points, posterior estimates, targets and
 * weights. Rows whose estimate is not finite are dropped (and counted).
 */
export async function amortizedBatch(
  key: Key, runner: ChunkRunner, x0: Batch, cfg: AmortizedConfig, sde: DiffusionSDE, reference?: GaussianReference,
): Promise<{ batch: PreparedBatch; estimate: PosteriorEstimate; dropped: number }> {
  const { n, dim } = x0;
  const [kt, ke, kp] = split(key, 3);
  const t = uniform(kt, n, cfg.tMin, 1);
  const com = cfg.particles;
  const eps = com ? removeCentreOfMass(makeBatch(n, dim, normal(ke, n * dim)), com.count, com.spaceDim).data : normal(ke, n * dim);
  const alpha = new Float64Array(n);
  const sigma = new Float64Array(n);
  const xt = makeBatch(n, dim);
  for (let i = 0; i < n; i++) {
    alpha[i] = sde.alpha(t[i]);
    sigma[i] = sde.sigma(t[i]);
    for (let j = i * dim; j < (i + 1) * dim; j++) xt.data[j] = alpha[i] * x0.data[j] + sigma[i] * eps[j];
  }
  const problems = { xt, alpha, sigma, ...(reference ? { reference } : {}) };
  const raw = await estimatePosteriorMeans(kp, runner, problems, cfg.posterior);
  const estimate = com ? { ...raw, x0: removeCentreOfMass(raw.x0, com.count, com.spaceDim) } : raw;
  const { noise, score } = scoreTargets(problems, estimate.x0);
  const keep: number[] = [];
  for (let i = 0; i < n; i++) {
    let ok = true;
    for (let j = i * dim; j < (i + 1) * dim; j++) if (!Number.isFinite(noise.data[j]) || !Number.isFinite(estimate.x0.data[j])) ok = false;
    if (ok) keep.push(i);
  }
  const m = keep.length;
  const b: PreparedBatch = {
    n: m, dim, xt: new Float64Array(m * dim), t: new Float64Array(m), target: new Float64Array(m * dim), w: new Float64Array(m), eps: new Float64Array(m * dim),
  };
  keep.forEach((i, r) => {
    b.t[r] = t[i];
    b.w[r] = cfg.weighting === 'inverse-alpha' ? 1 / alpha[i] : cfg.weighting === 'sigma2' ? sigma[i] * sigma[i] : 1;
    for (let j = 0; j < dim; j++) {
      const k = i * dim + j;
      b.xt[r * dim + j] = xt.data[k];
      b.eps[r * dim + j] = eps[k];
      b.target[r * dim + j] = cfg.parametrisation === 'noise' ? noise.data[k] : cfg.parametrisation === 'mean' ? estimate.x0.data[k] : score.data[k];
    }
  });
  return { batch: b, estimate, dropped: n - m };
}

function mean(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return a.length ? s / a.length : NaN;
}

/** How the posterior problems are solved: in this thread, or on worker threads. */
export interface ParallelOptions {
  /** Worker threads for posterior sampling [0: this thread]. */
  threads?: number;
  /** The target as a registry name or module path: what the workers load (required when threads > 0). */
  targetSpec?: string;
  /**
   * What runs the network when the trainer draws model samples (buffer refresh, validation,
   * evaluation): onnxruntime (the network exported in memory) or jax-js; `auto` takes onnxruntime
   * when it is installed [auto]. The two agree to float32 rounding, so a run's samples depend on
   * the engine only at that level (the training step's engine is `trainEngine`).
   */
  sampler?: 'auto' | 'jax' | 'onnxruntime';
  /**
   * What runs the training step (`createTrainer`'s engine) [auto: onnxruntime when installed, for
   * the MLP and the EGNN; an MLP with inputScale/outputScale stays on jax-js]. The DW-4 EGNN step
   * at batch 256: 31.8 ms against 177.5 ms on jax-js (1 thread, loaded machine; bench:train-step).
   */
  trainEngine?: TrainEngineChoice;
}

/**
 * A training run of Algorithm 1, one epoch at a time (the caller checkpoints, validates and
 * reports between epochs). The engine is started by `create`; call `close()` at the end.
 */
export class AmortizedTrainer {
  readonly sde: DiffusionSDE;
  private targetEvaluations: number;

  private constructor(
    readonly target: Target,
    readonly config: AmortizedConfig,
    private readonly trainer: Trainer,
    private readonly buffer: ReplayBuffer,
    private readonly runner: ChunkRunner,
    private epochsDone: number,
    evaluations: number,
    /** The reference prior of the posterior sampler (`reference.ts`), if the config asks for one. */
    readonly reference?: GaussianReference,
    /** What runs the network in `sampleWith` (`ParallelOptions.sampler`). */
    readonly samplingEngine: 'jax' | 'onnxruntime' = 'jax',
    private readonly samplingThreads = 1,
    private readonly targets?: TargetReplay,
  ) {
    const d = config.diffusion;
    this.sde = d.kind === 'vp' ? new VPSDE({ betaMin: d.betaMin, betaMax: d.betaMax }) : new VESDE({ sigmaMin: d.sigmaMin, sigmaMax: d.sigmaMax });
    this.targetEvaluations = evaluations;
  }

  /** A fresh run (buffer filled from the initial model) or one resumed from `snapshot`. */
  static async create(target: Target, config: AmortizedConfig, snapshot?: AmortizedSnapshot, parallel: ParallelOptions = {}): Promise<AmortizedTrainer> {
    checkAmortizedConfig(config);
    const netDim = architecture(config.network).dim;
    if (netDim !== target.dim) {
      throw new RangeError(`the network has dimension ${netDim} but the target '${target.name}' has dimension ${target.dim}`);
    }
    const [kInit, , kBuf] = split(keyFromSeed(config.seed), 3);
    const inner = innerTrainConfig(config);
    const state = snapshot?.train ?? initTrainState(kInit, config.network, inner);
    const trainer = await createTrainer(config.network, inner, state, { engine: parallel.trainEngine ?? 'auto' });
    let buffer: ReplayBuffer;
    if (snapshot) buffer = ReplayBuffer.restore(config.buffer.capacity, snapshot.buffer);
    else buffer = new ReplayBuffer(config.buffer.capacity, target.dim);
    const threads = parallel.threads ?? 0;
    if (threads > 0 && parallel.targetSpec === undefined) throw new RangeError('amortized training on worker threads needs the target as a name or module path (targetSpec)');
    const runner = threads > 0 ? workerPoolRunner(parallel.targetSpec!, threads) : inThreadRunner(target);
    // The pilot is keyed by the seed: a resumed run recomputes the same reference (its evaluations
    // are already in the snapshot's count).
    const com = config.particles;
    const project = com ? (x: Batch) => removeCentreOfMass(x, com.count, com.spaceDim) : undefined;
    const pilot = config.referencePilot ? pilotReference(config.seed, target, config.referencePilot, project) : undefined;
    const evaluations = snapshot?.targetEvaluations ?? pilot?.targetEvaluations ?? 0;
    const sampler = parallel.sampler ?? 'auto';
    if (sampler === 'onnxruntime' && loadOnnxRuntime({ quiet: true }) === undefined) {
      throw new Error(`onnxruntime-node is not available (${onnxRuntimeLoadError() ?? 'unknown reason'}); install it (ONNXRUNTIME_NODE_INSTALL=skip npm install) or sample with jax-js`);
    }
    const samplingEngine = sampler === 'jax' || loadOnnxRuntime({ quiet: true }) === undefined ? 'jax' : 'onnxruntime';
    const replay = config.targetReplay;
    const targets = replay === undefined ? undefined
      : snapshot?.targets ? TargetReplay.restore(replay.capacity, target.dim, snapshot.targets) : new TargetReplay(replay.capacity, target.dim);
    const run = new AmortizedTrainer(target, config, trainer, buffer, runner, snapshot?.epoch ?? 0, evaluations, pilot?.reference, samplingEngine, Math.max(1, threads), targets);
    if (!snapshot) {
      if (pilot) buffer.push(pilot.samples);
      else await run.refreshBuffer(foldIn(kBuf, 0xffffffff), state);
    }
    return run;
  }

  /** What runs the training step: 'onnxruntime' or 'jax'. */
  get trainEngine(): 'jax' | 'onnxruntime' {
    return this.trainer.engine === 'onnxruntime' ? 'onnxruntime' : 'jax';
  }

  get epoch(): number {
    return this.epochsDone;
  }

  get bufferSize(): number {
    return this.buffer.size;
  }

  /**
   * `n` samples of the network with the given weights (reverse SDE, `steps` EM steps from t = 1),
   * the network on `samplingEngine`: onnxruntime runs the DW-4 EGNN (3 x 128) at batch 256 ~11x
   * faster than jax-js (17.5 against 199 ms a forward, 1 thread, loaded 2-core machine), which made
   * the buffer refresh and validation ~40% of a DW-4 run.
   */
  async sampleWith(key: Key, params: TrainState['params'], n: number, steps = this.config.buffer.sampleSteps): Promise<Batch> {
    const { network, parametrisation } = this.config;
    const model = this.samplingEngine === 'onnxruntime'
      ? onnxScoreModel(await exportedNetworkPredictor(architecture(network).config, params, { backend: 'onnxruntime', threads: this.samplingThreads }), parametrisation, this.sde)
      : networkScoreModel(network, params, parametrisation, this.sde);
    try {
      const x = sampleReverseSDE(key, model, this.sde, { n, steps, tMin: this.config.tMin });
      const com = this.config.particles;
      return com ? removeCentreOfMass(x, com.count, com.spaceDim) : x;
    } finally {
      model.dispose();
    }
  }

  private async refreshBuffer(key: Key, state: TrainState): Promise<number> {
    return this.buffer.push(await this.sampleWith(key, state.params, this.config.buffer.refresh)).skipped;
  }

  /** Run one epoch: `iterationsPerEpoch` updates, then the buffer refresh. */
  async runEpoch(onIteration?: (r: IterationReport) => void): Promise<EpochReport> {
    const c = this.config;
    const [, kData, kBuf] = split(keyFromSeed(c.seed), 3);
    const e = this.epochsDone;
    let lossSum = 0;
    let counted = 0;
    let skipped = 0;
    let dropped = 0;
    let nonFinite = 0;
    let essSum = 0;
    let accSum = 0;
    let evals = 0;
    for (let i = 0; i < c.iterationsPerEpoch; i++) {
      const k = e * c.iterationsPerEpoch + i;
      const [kx, kb] = split(foldIn(kData, k), 2);
      const x0 = this.buffer.sample(kx, c.batch);
      const { batch, estimate, dropped: d } = await amortizedBatch(kb, this.runner, x0, c, this.sde, this.reference);
      const rep = this.update(kb, batch);
      const ess = mean(estimate.ess);
      if (rep.skipped) skipped++;
      else {
        lossSum += rep.loss;
        counted++;
      }
      dropped += d;
      nonFinite += estimate.nonFinite;
      essSum += ess;
      accSum += estimate.acceptance;
      evals += estimate.targetEvaluations;
      onIteration?.({
        iteration: k + 1, loss: rep.loss, gradNorm: rep.gradNorm, skipped: rep.skipped, ess, acceptance: estimate.acceptance,
        refineAcceptance: estimate.refineAcceptance, targetEvaluations: estimate.targetEvaluations, dropped: d, nonFinite: estimate.nonFinite,
      });
    }
    const bufferSkipped = await this.refreshBuffer(foldIn(kBuf, e), this.trainer.snapshot());
    this.epochsDone = e + 1;
    this.targetEvaluations += evals;
    const I = c.iterationsPerEpoch;
    return {
      epoch: e + 1, iterations: I, meanLoss: counted ? lossSum / counted : NaN, skipped, dropped, nonFinite,
      meanEss: essSum / I, meanAcceptance: accSum / I, targetEvaluations: this.targetEvaluations, bufferSize: this.buffer.size, bufferSkipped,
    };
  }

  /**
   * The iteration's Adam step(s): one on its own batch, or with a target replay `updates` steps on
   * batches drawn from the replay after the batch joins it (keys `foldIn(foldIn(kb, 'rply'), u)`);
   * the loss and gradient norm reported are the means over those steps.
   */
  private update(kb: Key, batch: PreparedBatch): { loss: number; gradNorm: number; skipped: boolean } {
    const replay = this.targets;
    if (replay === undefined) {
      return batch.n > 0 ? this.trainer.stepPrepared(batch) : { loss: NaN, gradNorm: NaN, skipped: true };
    }
    if (batch.n > 0) replay.push(batch);
    if (replay.size === 0) return { loss: NaN, gradNorm: NaN, skipped: true };
    const kr = foldIn(kb, 0x72706c79);
    let loss = 0;
    let gradNorm = 0;
    let done = 0;
    for (let u = 0; u < this.config.targetReplay!.updates; u++) {
      const r = this.trainer.stepPrepared(replay.sample(foldIn(kr, u), this.config.batch));
      if (r.skipped) continue;
      loss += r.loss;
      gradNorm += r.gradNorm;
      done++;
    }
    return done > 0 ? { loss: loss / done, gradNorm: gradNorm / done, skipped: false } : { loss: NaN, gradNorm: NaN, skipped: true };
  }

  /** The state for a checkpoint (copies). */
  snapshot(): AmortizedSnapshot {
    return {
      epoch: this.epochsDone, train: this.trainer.snapshot(), buffer: this.buffer.snapshot(), targetEvaluations: this.targetEvaluations,
      ...(this.targets ? { targets: this.targets.snapshot() } : {}),
    };
  }

  /** Give back the engine memory and stop the worker threads. */
  async close(): Promise<void> {
    this.trainer.dispose?.();
    await this.runner.close();
  }
}
