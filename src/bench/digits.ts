/**
 * The ISSGM paper's applications (Sec. 4.2-4.3) on CPU-sized images: the bundled UCI digits
 * (8x8 = 64-D, model units [-1, 1]); issue 6 part 4. One command, three experiments:
 *
 *  (a) Sec. 4.2 / Fig. 3: `l(x)` = reconstruction MSE of a small autoencoder (64-32-8-32-64):
 *      histograms of `l` under `p` and `q`, `E_p[l]`, `E_q[l]` (Table 2: 3.07e-4 -> 6.09e-4 on CSI).
 *  (b) Sec. 4.3-1 / Fig. 4: `l(x) = P(c | x)` of a small classifier (64-64-10) for the class the
 *      score model under-produces: its share under `p` and under `q` (Table 2: 35% -> 51% "man").
 *  (c) Sec. 4.3-2 / Fig. 5: `l(x) = (H(x) / H0)^gamma`, `H` the DFT radial high-pass energy
 *      (`issgm/frequency-weight.ts`; `exp(lambda H)` ran away, see there): `H` and `E[l]` under
 *      `p` and `q` (Table 2: 1.36 -> 4.39).
 *
 * Models (cached in bench/runs/digits/, reused when their recorded config matches):
 *  - the score model: `tweedie train --data digits` (an MLP 3 x 512, batch 256, 8000 steps, the
 *    trainer's other defaults), run through the real CLI as bench:quality does: 16 steps/s, ~8.5
 *    minutes, on an idle core; the recorded run took 29 minutes on the shared, loaded 2-core
 *    machine. It is sampled on onnxruntime (`--engine auto`, `cli/model-sampling.ts`).
 *  Sampling the four sets (p and three q's, 2000 x 1000 steps) then takes 8-14 minutes there.
 *  - the classifier and the autoencoder, trained here with jax-js on a fixed 80% split of the
 *    digits (`models/digit-*.ts`); held-out accuracy / MSE on the other 20% are reported.
 *
 * Sampling: `p` by the reverse SDE (Euler–Maruyama, Tweedie-denoised at tMin) and each `q` by
 * ISSGM with the SAME key, so `p` and `q` share the prior draw and the step noises (a paired
 * comparison: ISSGM with a constant weight reproduces the reverse SDE bit for bit), which also
 * pairs the image grids cell by cell.
 *
 * References ("truth" where one exists): `E_q[f]` by self-normalised importance weighting of the
 * model's own `p` samples, `sum_i l(x_i) f(x_i) / sum_i l(x_i)` (what ISSGM approximates, up to
 * the Monte-Carlo error shown by the Kish ESS), and the same for the data (`q` of the data
 * distribution) next to the data's own `E[f]`.
 *
 * Run: `npm run bench:digits [-- --n 2000 --steps 1000 --seed 0 --ort-threads 2 --retrain]`
 * (`--model DIR`: use another digits score model instead of the cached one).
 * Writes bench/results/digits.json and PNGs in bench/results/digits/.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Batch } from '../core/batch.js';
import { initEngine } from '../core/engine.js';
import { keyFromSeed, split, type Key } from '../core/key.js';
import type { LogWeight } from '../core/types.js';
import { sampleReverseSDE } from '../diffusion/em.js';
import { loadDigits } from '../io/digits.js';
import { readSafetensors, writeSafetensors } from '../io/safetensors.js';
import { highFrequencyEnergy, highFrequencyPowerWeight } from '../issgm/frequency-weight.js';
import { sampleIssgm, type IssgmCorrection, type IssgmResult } from '../issgm/sampler.js';
import { essFromLogWeights } from '../metrics/ess.js';
import {
  defaultAutoencoderTrainOptions, reconstructionError, reconstructionErrorWeight, trainDigitAutoencoder, type DigitAutoencoder,
} from '../models/digit-autoencoder.js';
import {
  argmaxRows, classifierAccuracy, classifierProbabilities, classProbabilityWeight, defaultClassifierTrainOptions, selectRows,
  trainDigitClassifier, trainTestSplit, type DigitClassifier,
} from '../models/digit-classifier.js';
import type { PlainMlpConfig } from '../models/plain-mlp.js';
import type { Tensors } from '../models/tensors.js';
import { histogramPlot } from '../plot/histogram.js';
import { imageGridPlot } from '../plot/image-grid.js';
import { loadSamplingModel, modelSde } from '../cli/model-sampling.js';
import { VERSION } from '../cli/output.js';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const CLI = join(ROOT, 'dist/cli/main.js');
const RUNS = join(ROOT, 'bench/runs/digits');
const RESULTS = join(ROOT, 'bench/results');

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const flag = (name: string): boolean => process.argv.includes(`--${name}`);

const seed = Number(arg('seed') ?? 0);
const n = Number(arg('n') ?? 2000);
const steps = Number(arg('steps') ?? 1000);
const ortThreads = arg('ort-threads') === undefined ? undefined : Number(arg('ort-threads'));
const retrain = flag('retrain');
/**
 * `--correction variance`: ISSGM with the posterior-variance correction (issgm/smoothed-weight.ts)
 * instead of the paper's eq. (16); results go to digits-variance.json and digits-variance/ so the
 * paper-method results stay next to them.
 */
const correction = (arg('correction') ?? 'none') as IssgmCorrection;
if (correction !== 'none' && correction !== 'variance') throw new Error(`--correction must be none or variance, got ${correction}`);
const TAG = correction === 'none' ? 'digits' : 'digits-variance';
const PLOTS = join(RESULTS, TAG);
/** The score model's training run (the `tweedie train` options). */
const SCORE = { hidden: 512, depth: 3, batch: 256, steps: 8000, seed };
/**
 * Experiment (c): radial cutoff (cycles per 8 pixels), strength gamma and scale H0 of
 * `l = (H / H0)^gamma`. H0 = 0.028 is the digits' mean H, so `l ~ 1` on a typical digit; gamma 4
 * moves the data's mean H from 0.028 to 0.037 under q (self-normalised weights on the data, Kish
 * ESS 40%) and `E[l]` by 2.5x, the size of the paper's Table 2 row (1.36 -> 4.39, 3.2x).
 */
const FREQ = { side: 8, cutoff: 2.5, gamma: 4, reference: 0.028 };
/**
 * The floor `m` of `l` is the SPEC §2 default, 1e-6, for all three weights. Measured on the
 * classifier weight (300 samples, 1000 steps): with m = 1e-300 (no floor in practice) 3.3% of the
 * q samples ran off the image manifold (autoencoder MSE > 0.3, |x| up to 131: adversarial noise
 * the classifier calls a 7); with m = 1e-6, 0.7% (max |x| 3.6). The floor switches the guidance
 * off where the classifier is certain (P < 1e-6) that x0h is another digit, which is where its
 * gradient is least trustworthy.
 */

const log = (s: string): void => { process.stdout.write(`${s}\n`); };
const clock = (): (() => number) => { const t0 = performance.now(); return () => (performance.now() - t0) / 1000; };

// ---------------------------------------------------------------------------------------------
// Models (cached)
// ---------------------------------------------------------------------------------------------

/** Train the score model through the CLI unless bench/runs/digits/score holds this exact run. */
function scoreModel(): { dir: string; trained: boolean; seconds: number } {
  const given = arg('model');
  if (given !== undefined) return { dir: given, trained: false, seconds: NaN };
  const dir = join(RUNS, 'score');
  const resultPath = join(dir, 'result.json');
  if (!retrain && existsSync(resultPath)) {
    const r = JSON.parse(readFileSync(resultPath, 'utf8'));
    const net = r.config?.model?.network ?? {};
    if (r.config?.model?.data?.source === 'digits' && net.hidden === SCORE.hidden && net.depth === SCORE.depth &&
      r.config?.train?.batch === SCORE.batch && r.config?.steps === SCORE.steps && r.seed === SCORE.seed) {
      return { dir, trained: false, seconds: r.timings?.trainSeconds ?? NaN };
    }
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  log(`training the digits score model (MLP ${SCORE.depth} x ${SCORE.hidden}, batch ${SCORE.batch}, ${SCORE.steps} steps) into ${dir}`);
  const t = clock();
  const r = spawnSync(process.execPath, [CLI, 'train', '--data', 'digits', '--hidden', String(SCORE.hidden), '--depth', String(SCORE.depth),
    '--batch', String(SCORE.batch), '--steps', String(SCORE.steps), '--seed', String(SCORE.seed), '--eval-samples', '0', '--out', dir], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (r.status !== 0) throw new Error(`training the digits score model failed with exit code ${r.status}`);
  return { dir, trained: true, seconds: t() };
}

interface CachedNet {
  config: PlainMlpConfig;
  params: Tensors;
  trained: boolean;
  seconds: number;
}

/**
 * A plain-MLP network cached as safetensors with its config and training options in the
 * metadata; retrained when they differ (or with --retrain).
 */
async function cachedNet(
  file: string, meta: Record<string, unknown>, train: () => Promise<{ config: PlainMlpConfig; params: Tensors; seconds: number }>,
): Promise<CachedNet> {
  const path = join(RUNS, file);
  const want = JSON.stringify(meta);
  if (!retrain && existsSync(path)) {
    const st = readSafetensors(path);
    if (st.metadata.bench === want) {
      const params: Tensors = {};
      for (const [k, v] of Object.entries(st.tensors)) params[k] = { shape: [...v.shape], data: Float32Array.from(v.data as Float32Array) };
      return { config: JSON.parse(st.metadata.config) as PlainMlpConfig, params, trained: false, seconds: Number(st.metadata.seconds) };
    }
  }
  const r = await train();
  mkdirSync(RUNS, { recursive: true });
  const tensors: Record<string, { dtype: 'F32'; shape: number[]; data: Float32Array }> = {};
  for (const [k, v] of Object.entries(r.params)) tensors[k] = { dtype: 'F32', shape: v.shape, data: v.data };
  writeSafetensors(path, tensors, { bench: want, config: JSON.stringify(r.config), seconds: String(r.seconds) });
  return { config: r.config, params: r.params, trained: true, seconds: r.seconds };
}

// ---------------------------------------------------------------------------------------------
// Statistics
// ---------------------------------------------------------------------------------------------

const mean = (a: ArrayLike<number>): number => { let s = 0; for (let i = 0; i < a.length; i++) s += a[i]; return s / a.length; };
function se(a: ArrayLike<number>): number {
  const m = mean(a);
  let q = 0;
  for (let i = 0; i < a.length; i++) q += (a[i] - m) ** 2;
  return Math.sqrt(q / (a.length - 1) / a.length);
}
function quantile(a: ArrayLike<number>, p: number): number {
  const s = Float64Array.from(a).sort();
  return s[Math.min(s.length - 1, Math.max(0, Math.round(p * (s.length - 1))))];
}

/**
 * Self-normalised importance estimate of `E_q[f]` from samples of `p` with `q ∝ l p`:
 * `sum l_i f_i / sum l_i` (log-weights max-shifted), with the Kish ESS of the weights and the
 * delta-method standard error `sqrt(sum w_i^2 (f_i - est)^2)` (w normalised; DESIGN: not
 * sd / sqrt(ESS)).
 */
function snis(logL: ArrayLike<number>, f: ArrayLike<number>): { estimate: number; se: number; ess: number } {
  let mx = -Infinity;
  for (let i = 0; i < logL.length; i++) mx = Math.max(mx, logL[i]);
  const w = Float64Array.from(logL, (v) => Math.exp(v - mx));
  const sw = w.reduce((a, b) => a + b, 0);
  let est = 0;
  for (let i = 0; i < w.length; i++) est += (w[i] / sw) * f[i];
  let v = 0;
  for (let i = 0; i < w.length; i++) v += (w[i] / sw) ** 2 * (f[i] - est) ** 2;
  return { estimate: est, se: Math.sqrt(v), ess: essFromLogWeights(logL) };
}

/** mean and standard error of an array. */
const summary = (a: ArrayLike<number>): { mean: number; se: number } => ({ mean: mean(a), se: se(a) });

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const total = clock();
  mkdirSync(PLOTS, { recursive: true });
  await initEngine();
  const [kSplit, kClf, kAe, kSample] = split(keyFromSeed(seed), 4);

  // 1. Models.
  const score = scoreModel();
  const digits = loadDigits();
  const sp = trainTestSplit(kSplit, digits.images.n);
  const xTrain = selectRows(digits.images, sp.train);
  const yTrain = Int32Array.from(sp.train, (i) => digits.labels[i]);
  const xTest = selectRows(digits.images, sp.test);
  const yTest = Int32Array.from(sp.test, (i) => digits.labels[i]);
  const clfOpts = defaultClassifierTrainOptions();
  const aeOpts = defaultAutoencoderTrainOptions();
  const clfNet = await cachedNet('classifier.safetensors', { kind: 'classifier', seed, split: 'train 80%', ...clfOpts },
    () => trainDigitClassifier(kClf, xTrain, yTrain, clfOpts));
  const aeNet = await cachedNet('autoencoder.safetensors', { kind: 'autoencoder', seed, split: 'train 80%', ...aeOpts },
    () => trainDigitAutoencoder(kAe, xTrain, aeOpts));
  const clf: DigitClassifier = { config: clfNet.config, params: clfNet.params };
  const ae: DigitAutoencoder = { config: aeNet.config, params: aeNet.params };
  const clfAccuracy = { train: await classifierAccuracy(clf, xTrain, yTrain), test: await classifierAccuracy(clf, xTest, yTest) };
  const aeTest = await reconstructionError(ae, xTest);
  const aeTrain = await reconstructionError(ae, xTrain);
  log(`classifier ${clf.config.sizes.join('-')}: accuracy train ${clfAccuracy.train.toFixed(4)}, held-out ${clfAccuracy.test.toFixed(4)}` +
    `; autoencoder ${ae.config.sizes.join('-')}: MSE train ${mean(aeTrain).toFixed(4)}, held-out ${mean(aeTest).toFixed(4)}`);

  // 2. The score model on onnxruntime (engine auto), and p by the reverse SDE.
  const model = loadSamplingModel(score.dir, ortThreads === undefined ? {} : { threads: ortThreads });
  const sde = modelSde(model);
  const net = await model.makeModel(sde);
  const timings: Record<string, number> = { scoreModelTrainSeconds: score.seconds, classifierTrainSeconds: clfNet.seconds, autoencoderTrainSeconds: aeNet.seconds };
  try {
    const t = clock();
    const p = sampleReverseSDE(kSample, net, sde, { n, steps });
    timings.pSeconds = t();
    log(`p: ${n} reverse-SDE samples, ${steps} steps, ${timings.pSeconds.toFixed(1)} s (${String(model.record.engine)})`);
    const data = digits.images;
    const runQ = (w: LogWeight, name: string): IssgmResult => {
      const c = clock();
      const r = sampleIssgm(kSample, net, w, sde, { n, steps, correction });
      timings[`q_${name}_seconds`] = c();
      log(`q (${name}): ${n} ISSGM samples, ${timings[`q_${name}_seconds`].toFixed(1)} s${r.diagnostics.warnings.map((s) => `; ${s}`).join('')}`);
      return r;
    };
    const probsP = await classifierProbabilities(clf, p);
    const maxProb = (pr: Batch): number => { let s = 0; for (let i = 0; i < pr.n; i++) { let m = 0; for (let j = 0; j < pr.dim; j++) m = Math.max(m, pr.data[i * pr.dim + j]); s += m; } return s / pr.n; };
    const shares = (pr: Batch): number[] => { const c = new Array(10).fill(0); for (const k of argmaxRows(pr)) c[k] += 1 / pr.n; return c; };
    const dataProbs = await classifierProbabilities(clf, data);
    const dataLabelShares = (() => { const c = new Array(10).fill(0); for (const k of digits.labels) c[k] += 1 / digits.labels.length; return c; })();
    const sharesP = shares(probsP);
    const grid = (file: string, title: string, q: Batch): void => {
      imageGridPlot(join(PLOTS, file), [{ title: 'p (reverse SDE)', images: p }, { title: 'q (ISSGM, same noise)', images: q }], { title, pixel: 5 });
    };
    imageGridPlot(join(PLOTS, 'data-vs-p.png'), [{ title: 'digits data (random)', images: selectRows(data, sp.test) }, { title: 'p: score model (reverse SDE)', images: p }],
      { title: `digits: data and ${SCORE.steps}-step MLP ${SCORE.depth}x${SCORE.hidden} score model`, pixel: 5 });

    // (a) Autoencoder distortion (Sec. 4.2, Fig. 3).
    const wAe = reconstructionErrorWeight(ae);
    const qAe = runQ(wAe, 'autoencoder');
    const lP = await reconstructionError(ae, p);
    const lQ = await reconstructionError(ae, qAe.samples);
    const lData = await reconstructionError(ae, data);
    const thr = quantile(lP, 0.95);
    const above = (a: Float64Array): number => a.reduce((s, v) => s + (v > thr ? 1 : 0), 0) / a.length;
    // Off the image manifold: reconstructed worse than ANY real digit (the data's largest distortion).
    const offThr = Math.max(...lData);
    const offManifold = (a: Float64Array): number => a.reduce((c, v) => c + (v > offThr ? 1 : 0), 0) / a.length;
    const distortion = async (x: Batch): Promise<{ mean: number; median: number; offManifoldShare: number }> => {
      const e = await reconstructionError(ae, x);
      return { mean: mean(e), median: quantile(e, 0.5), offManifoldShare: offManifold(e) };
    };
    const logLP = Float64Array.from(lP, Math.log);
    const logLData = Float64Array.from(lData, Math.log);
    const expA = {
      weight: wAe.description,
      E_p_l: summary(lP), E_q_l_issgm: summary(lQ),
      E_q_l_snis_from_p: snis(logLP, lP),
      E_data_l: summary(lData), E_q_l_snis_from_data: snis(logLData, lData),
      heldOutMse: mean(aeTest),
      tail: { threshold_p95_of_p: thr, share_above_under_p: above(lP), share_above_under_q: above(lQ) },
      median: { data: quantile(lData, 0.5), p: quantile(lP, 0.5), q: quantile(lQ, 0.5) },
      offManifold: { threshold_max_over_data: offThr, share_p: offManifold(lP), share_q: offManifold(lQ) },
      classifierMaxProb: { p: maxProb(probsP), q: maxProb(await classifierProbabilities(clf, qAe.samples)) },
      issgm: qAe.diagnostics.options, floored: qAe.diagnostics.floored, nonFinite: qAe.diagnostics.nonFinite,
    };
    const lo = Math.log10(Math.min(quantile(lP, 0.001), quantile(lQ, 0.001)));
    const hi = Math.log10(Math.max(quantile(lP, 0.999), quantile(lQ, 0.999)));
    await histogramPlot(join(PLOTS, 'autoencoder-distortion.png'), [
      { name: 'p (reverse SDE)', values: Float64Array.from(lP, Math.log10) },
      { name: 'q (ISSGM)', values: Float64Array.from(lQ, Math.log10) },
    ], { title: 'Autoencoder distortion under p and q (paper Fig. 3)', bins: 40, range: [lo, hi], xLabel: 'log10 per-pixel reconstruction MSE (model units)' });
    grid('autoencoder-p-vs-q.png', 'l = autoencoder reconstruction MSE (paper Sec. 4.2)', qAe.samples);

    // (b) Classifier probability of the class p under-produces (Sec. 4.3-1, Fig. 4).
    let cls = 0;
    for (let k = 1; k < 10; k++) if (sharesP[k] < sharesP[cls]) cls = k;
    const wClf = classProbabilityWeight(clf, cls);
    const qClf = runQ(wClf, 'classifier');
    const probsQ = await classifierProbabilities(clf, qClf.samples);
    const sharesQ = shares(probsQ);
    const isC = (pr: Batch): Float64Array => Float64Array.from(argmaxRows(pr), (k) => (k === cls ? 1 : 0));
    const pc = (pr: Batch): Float64Array => Float64Array.from({ length: pr.n }, (_, i) => pr.data[i * pr.dim + cls]);
    const logPcP = Float64Array.from(pc(probsP), Math.log);
    const logPcData = Float64Array.from(pc(dataProbs), Math.log);
    const expB = {
      weight: wClf.description, class: cls,
      classifierAccuracy: clfAccuracy,
      share_p: sharesP[cls], share_q_issgm: sharesQ[cls],
      share_q_snis_from_p: snis(logPcP, isC(probsP)),
      share_data_labels: dataLabelShares[cls], share_data_classified: shares(dataProbs)[cls],
      share_q_snis_from_data: snis(logPcData, isC(dataProbs)),
      E_p_l: summary(pc(probsP)), E_q_l_issgm: summary(pc(probsQ)), E_q_l_snis_from_p: snis(logPcP, pc(probsP)),
      sharesAllClasses: { p: sharesP, q: sharesQ, dataLabels: dataLabelShares },
      classifierMaxProb: { p: maxProb(probsP), q: maxProb(probsQ) },
      // Off-manifold check: the autoencoder's distortion of these q samples (adversarial noise
      // that fools the classifier reconstructs badly), next to p's and the data's.
      autoencoderDistortion: { data: await distortion(data), p: await distortion(p), q: await distortion(qClf.samples) },
      issgm: qClf.diagnostics.options, floored: qClf.diagnostics.floored, nonFinite: qClf.diagnostics.nonFinite,
    };
    grid('classifier-p-vs-q.png', `l = P(class ${cls} | x), the class p under-produces (paper Sec. 4.3-1)`, qClf.samples);

    // (c) High-frequency emphasis (Sec. 4.3-2, Fig. 5).
    const wHf = highFrequencyPowerWeight(FREQ);
    const qHf = runQ(wHf, 'frequency');
    const hP = highFrequencyEnergy(p, FREQ);
    const hQ = highFrequencyEnergy(qHf.samples, FREQ);
    const hData = highFrequencyEnergy(data, FREQ);
    const lOf = (h: Float64Array): Float64Array => Float64Array.from(h, (v) => (v / FREQ.reference) ** FREQ.gamma);
    const logLOf = (h: Float64Array): Float64Array => Float64Array.from(h, (v) => FREQ.gamma * Math.log(v / FREQ.reference));
    const expC = {
      weight: wHf.description, ...FREQ,
      H_p: summary(hP), H_q_issgm: summary(hQ), H_q_snis_from_p: snis(logLOf(hP), hP),
      H_data: summary(hData), H_q_snis_from_data: snis(logLOf(hData), hData),
      E_p_l: summary(lOf(hP)), E_q_l_issgm: summary(lOf(hQ)), E_q_l_snis_from_p: snis(logLOf(hP), lOf(hP)),
      classifierMaxProb: { p: maxProb(probsP), q: maxProb(await classifierProbabilities(clf, qHf.samples)) },
      autoencoderDistortion: { data: await distortion(data), p: await distortion(p), q: await distortion(qHf.samples) },
      issgm: qHf.diagnostics.options, floored: qHf.diagnostics.floored, nonFinite: qHf.diagnostics.nonFinite,
    };
    await histogramPlot(join(PLOTS, 'frequency-energy.png'), [
      { name: 'p (reverse SDE)', values: hP }, { name: 'q (ISSGM)', values: hQ }, { name: 'data', values: hData },
    ], { title: `High-frequency energy H under p and q, l = (H / ${FREQ.reference})^${FREQ.gamma}`, bins: 40, xLabel: `H: mean square of the intensity image above radial frequency ${FREQ.cutoff}` });
    grid('frequency-p-vs-q.png', `l = (H / ${FREQ.reference})^${FREQ.gamma}, H = high-frequency energy (paper Sec. 4.3-2)`, qHf.samples);
    timings.totalSeconds = total();

    // 3. Record and print.
    const ver = (pkg: string): string | undefined => {
      try { return JSON.parse(readFileSync(join(ROOT, 'node_modules', pkg, 'package.json'), 'utf8')).version; } catch { return undefined; }
    };
    const result = {
      benchmark: 'ISSGM digits experiments (paper Sec. 4.2-4.3; issue 6 part 4): autoencoder distortion, classifier class share, high-frequency emphasis',
      seed, version: VERSION, node: process.version, cpu: cpus()[0]?.model, cores: cpus().length, date: new Date().toISOString(),
      versions: { '@jax-js/jax': ver('@jax-js/jax'), 'onnxruntime-node': ver('onnxruntime-node') },
      config: {
        n, steps, correction, units: 'model units: x = pixel / 8 - 1 in [-1, 1]', pairing: 'p and every q share the key (prior draw and step noises)',
        scoreModel: { dir: arg('model') ?? 'bench/runs/digits/score', train: SCORE, cached: !score.trained, engine: model.record.engine, sde: { betaMin: sde.betaMin, betaMax: sde.betaMax } },
        classifier: { sizes: clf.config.sizes, activation: clf.config.activation, train: clfOpts, split: { train: sp.train.length, test: sp.test.length }, cached: !clfNet.trained },
        autoencoder: { sizes: ae.config.sizes, activation: ae.config.activation, train: aeOpts, cached: !aeNet.trained },
        ortThreads: ortThreads ?? 'default (2)',
      },
      paper: {
        autoencoder: { E_p_l: 3.07e-4, E_q_l: 6.09e-4, note: 'CSI data; tail share (distortion > 1e-3) 5% -> 16%' },
        classifier: { share_p: 0.35, share_q: 0.51, note: 'CelebA "man" class; l = the classifier logit' },
        frequency: { E_p_l: 1.36, E_q_l: 4.39, note: 'StableCascade; l = a frequency analyzer (radial Fourier masks)' },
      },
      experiments: { autoencoder: expA, classifier: expB, frequency: expC },
      timings,
    };
    mkdirSync(RESULTS, { recursive: true });
    writeFileSync(join(RESULTS, `${TAG}.json`), `${JSON.stringify(result, null, 2)}\n`);
    const f = (v: number, d = 4): string => v.toPrecision(d);
    const pct = (v: number): string => `${(100 * v).toFixed(1)}%`;
    log([
      '',
      '| experiment | statistic | data | p (model) | q (ISSGM) | q (SNIS of p samples) | paper p -> q |',
      '|---|---|---|---|---|---|---|',
      `| (a) autoencoder | E[l], per-pixel MSE | ${f(expA.E_data_l.mean)} | ${f(expA.E_p_l.mean)} | ${f(expA.E_q_l_issgm.mean)} | ${f(expA.E_q_l_snis_from_p.estimate)} | 3.07e-4 -> 6.09e-4 |`,
      `| (a) autoencoder | share above p's 95th pct | - | ${pct(expA.tail.share_above_under_p)} | ${pct(expA.tail.share_above_under_q)} | - | 5% -> 16% |`,
      `| (b) classifier, class ${cls} | class share | ${pct(expB.share_data_labels)} | ${pct(expB.share_p)} | ${pct(expB.share_q_issgm)} | ${pct(expB.share_q_snis_from_p.estimate)} | 35% -> 51% |`,
      `| (b) classifier, class ${cls} | E[l] = E[P(c given x)] | ${f(mean(pc(dataProbs)))} | ${f(expB.E_p_l.mean)} | ${f(expB.E_q_l_issgm.mean)} | ${f(expB.E_q_l_snis_from_p.estimate)} | - |`,
      `| (c) high frequency | E[H] | ${f(expC.H_data.mean)} | ${f(expC.H_p.mean)} | ${f(expC.H_q_issgm.mean)} | ${f(expC.H_q_snis_from_p.estimate)} | - |`,
      `| (c) high frequency | E[l] = E[(H/H0)^${FREQ.gamma}] | ${f(mean(lOf(hData)))} | ${f(expC.E_p_l.mean)} | ${f(expC.E_q_l_issgm.mean)} | ${f(expC.E_q_l_snis_from_p.estimate)} | 1.36 -> 4.39 |`,
      '',
      `classifier held-out accuracy ${pct(clfAccuracy.test)}; autoencoder held-out MSE ${f(mean(aeTest))}; SNIS ESS of ${n} p samples: (a) ${expA.E_q_l_snis_from_p.ess.toFixed(0)}, (b) ${expB.share_q_snis_from_p.ess.toFixed(0)}, (c) ${expC.H_q_snis_from_p.ess.toFixed(0)}`,
      `mean max class probability (is it still a digit?): p ${f(expA.classifierMaxProb.p, 3)}, q(a) ${f(expA.classifierMaxProb.q, 3)}, q(b) ${f(expB.classifierMaxProb.q, 3)}, q(c) ${f(expC.classifierMaxProb.q, 3)}`,
      `off the image manifold (autoencoder MSE above the data's maximum ${f(offThr, 3)}): p ${pct(expA.offManifold.share_p)}, q(a) ${pct(expA.offManifold.share_q)}, q(b) ${pct(expB.autoencoderDistortion.q.offManifoldShare)}, q(c) ${pct(expC.autoencoderDistortion.q.offManifoldShare)}`,
      `median autoencoder MSE: data ${f(expA.median.data, 3)}, p ${f(expA.median.p, 3)}, q(a) ${f(expA.median.q, 3)}, q(b) ${f(expB.autoencoderDistortion.q.median, 3)}, q(c) ${f(expC.autoencoderDistortion.q.median, 3)}`,
      `wrote bench/results/${TAG}.json and bench/results/${TAG}/*.png in ${timings.totalSeconds.toFixed(0)} s`,
    ].join('\n'));
  } finally {
    net.dispose();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
