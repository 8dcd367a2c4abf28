/**
 * The ISSGM paper's Table 1 (JSD to ground truth, 4 datasets x weights l1 = |x|^2, l2 = x1+x2+2)
 * and Table 2 (Spiral, |x|^2: E_p[l], E_q[l]) for ISSGM and the baselines SNIR, DPS-style
 * guidance and TDS, under one protocol (SPEC §2): N samples per side, 64 x 64 bins on
 * [-4.5, 4.5]^2, natural log, the floor (two ground-truth sets) next to every figure.
 *
 * Score models of p: the trained models that `npm run bench:quality` leaves in
 * bench/runs/quality/<dataset>/ (or `--models DIR`). Ground truth: accept/reject from exact data
 * samples. Budget: every method gets the network evaluations ISSGM uses (2 per step per
 * sample): SNIR a pool of 2N p-samples, DPS the finite-difference VJP (3 per step), TDS K = 2
 * particles per output sample; the flow (rational-quadratic spline coupling, fitted by the
 * cross-entropy method to N data samples of p weighted by l) uses no score evaluations.
 *
 * Run: `npm run bench:issgm [-- --seeds 5 --n 10000 --steps 500 --datasets ... --methods ...]`.
 * Writes bench/results/issgm-tables.json (or `--out FILE`; `--merge` keeps other datasets' cells
 * already there) and prints the Markdown tables.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Batch } from '../core/batch.js';
import { foldIn, keyFromSeed, split, type Key } from '../core/key.js';
import type { LogWeight, ScoreModel } from '../core/types.js';
import { dps } from '../baselines/dps.js';
import { snir } from '../baselines/snir.js';
import { tds } from '../baselines/tds.js';
import { flowBaseline } from '../baselines/flow.js';
import type { VPSDE } from '../diffusion/vp.js';
import { resolveTrainingData } from '../io/training-data.js';
import { acceptReject, boundFromSample, expectedWeight } from '../issgm/ground-truth.js';
import { sampleIssgm } from '../issgm/sampler.js';
import { parseWeightSpec, withFloor } from '../issgm/weights.js';
import { jsdHistogram2d } from '../metrics/jsd.js';
import { ONNX_BACKENDS, type OnnxBackend } from '../models/onnx-predictor.js';
import { loadSamplingModel, modelSde } from '../cli/model-sampling.js';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const seeds = Number(arg('seeds', '5'));
const n = Number(arg('n', '10000'));
const steps = Number(arg('steps', '500'));
const datasets = arg('datasets', 'circles,2spirals,pinwheel,8gaussians').split(',');
const methods = arg('methods', 'issgm,issgm-var,snir,dps,tds,flow').split(',');
const modelsDir = arg('models', join(ROOT, 'bench/runs/quality'));
const outFile = arg('out', join(ROOT, 'bench/results/issgm-tables.json'));
// Engine of the score network's forwards: auto = onnxruntime when installed (the fast path), else jax-js.
const engine = arg('engine', 'auto') as OnnxBackend;
if (!ONNX_BACKENDS.includes(engine)) throw new Error(`--engine must be one of ${ONNX_BACKENDS.join(', ')}`);
const WEIGHTS = { l1: 'norm2', l2: 'sum2' } as const;
const PROTOCOL = { bins: 64, range: 4.5 };

type Method = (key: Key, model: ScoreModel, w: LogWeight, sde: VPSDE, pData: Batch) => Promise<{ samples: Batch; evaluationsPerSample: number }> | { samples: Batch; evaluationsPerSample: number };
const METHODS: Record<string, Method> = {
  issgm: (key, model, w, sde) => {
    const r = sampleIssgm(key, model, w, sde, { n, steps });
    return { samples: r.samples, evaluationsPerSample: r.diagnostics.scoreEvals };
  },
  // Beyond the paper: the posterior-variance correction of the weight term (issgm/smoothed-weight.ts).
  'issgm-var': (key, model, w, sde) => {
    const r = sampleIssgm(key, model, w, sde, { n, steps, correction: 'variance' });
    return { samples: r.samples, evaluationsPerSample: r.diagnostics.scoreEvals };
  },
  snir: (key, model, w, sde) => {
    const r = snir(key, model, w, sde, { n, pool: 2 * n, steps });
    return { samples: r.samples, evaluationsPerSample: (2 * (steps + 1)) };
  },
  dps: (key, model, w, sde) => {
    const r = dps(key, model, w, sde, { n, steps });
    return { samples: r.samples, evaluationsPerSample: r.evaluations.scoreRows / n };
  },
  // The paper's baseline kind: a flow fitted to q by the cross-entropy method from n data samples of p
  // (no network evaluations of the score model; its cost is the fit time).
  flow: async (key, _model, w, _sde, pData) => {
    const r = await flowBaseline(key, pData, w, { n, steps: 1000, lr: 4e-3 });
    return { samples: r.samples, evaluationsPerSample: 0 };
  },
  tds: (key, model, w, sde) => {
    const r = tds(key, model, w, sde, { n, steps, particles: 2 });
    return { samples: r.samples, evaluationsPerSample: (r.evaluations.scoreRows + 2 * r.evaluations.vjpRows) / n };
  },
};

interface Cell { dataset: string; weight: string; method: string; jsd: number[]; floor: number[]; seconds: number[]; evaluationsPerSample: number; E_q_l: number[]; E_p_l: number[] }
const cells: Cell[] = [];
// `--merge`: keep the cells already in the results file that this run does not redo (runs can be
// split by dataset and by method); refuses to mix protocols (n, steps, seeds).
if (process.argv.includes('--merge') && existsSync(outFile)) {
  const prior = JSON.parse(readFileSync(outFile, 'utf8')) as { cells: Cell[]; n: number; steps: number; seeds: number };
  if (prior.n !== n || prior.steps !== steps || prior.seeds !== seeds) {
    throw new Error(`--merge: ${outFile} has n ${prior.n}, steps ${prior.steps}, seeds ${prior.seeds}; this run has ${n}, ${steps}, ${seeds}`);
  }
  cells.push(...prior.cells.filter((c) => !(datasets.includes(c.dataset) && methods.includes(c.method))));
}

let source0: ReturnType<typeof loadSamplingModel> | undefined;
async function main(): Promise<void> {
  for (const dataset of datasets) {
    const source = loadSamplingModel(join(modelsDir, dataset), { backend: engine });
    if (source.data.normalisation.scale !== 1 || source.data.normalisation.shift !== 0) {
      throw new Error(`${dataset}: the bench compares model-space samples with the data; this model was trained on normalised data`);
    }
    source0 ??= source;
    const sde = modelSde(source);
    const model = await source.makeModel(sde);
    const data = resolveTrainingData(dataset);
    for (const [wName, spec] of Object.entries(WEIGHTS)) {
      // q ∝ max(l, m) p (SPEC §2): every method sees the floored weight (ISSGM floors it itself, idempotently).
      const w = withFloor(parseWeightSpec(spec, 2));
      const M = boundFromSample(data.reference(keyFromSeed(999), 100_000), w, { margin: 1.5 });
      for (let s = 0; s < seeds; s++) {
        const [kGt, kFloor, kRun, kP] = split(foldIn(keyFromSeed(s), datasets.indexOf(dataset) * 2 + (wName === 'l1' ? 0 : 1)), 4);
        const sampler = { dim: 2, sample: (k: Key, m: number) => data.reference(k, m) };
        const gt = acceptReject(kGt, sampler, w, { n, M }).samples;
        const gt2 = acceptReject(kFloor, sampler, w, { n, M }).samples;
        const floor = jsdHistogram2d(gt2, gt, PROTOCOL);
        for (const method of methods) {
          const t0 = performance.now();
          const r = await METHODS[method](foldIn(kRun, Object.keys(METHODS).indexOf(method)), model, w, sde, data.reference(foldIn(kP, 1), n));
          const seconds = (performance.now() - t0) / 1000;
          let cell = cells.find((c) => c.dataset === dataset && c.weight === wName && c.method === method);
          if (!cell) cells.push((cell = { dataset, weight: wName, method, jsd: [], floor: [], seconds: [], evaluationsPerSample: r.evaluationsPerSample, E_q_l: [], E_p_l: [] }));
          cell.jsd.push(jsdHistogram2d(r.samples, gt, PROTOCOL));
          cell.floor.push(floor);
          cell.seconds.push(seconds);
          cell.E_q_l.push(expectedWeight(r.samples, w).mean);
          cell.E_p_l.push(expectedWeight(data.reference(kP, n), w).mean);
          process.stderr.write(`${dataset} ${wName} seed ${s} ${method}: JSD ${cell.jsd.at(-1)!.toFixed(4)} (floor ${floor.toFixed(4)}) ${seconds.toFixed(0)} s\n`);
        }
      }
    }
    model.dispose();
  }
  const ms = (v: number[]) => {
    const m = v.reduce((a, b) => a + b, 0) / v.length;
    const sd = v.length > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / (v.length - 1)) : 0;
    return `${m.toFixed(3)} ± ${sd.toFixed(3)}`;
  };
  const allDatasets = [...new Set(cells.map((c) => c.dataset))];
  const cols = allDatasets.flatMap((d) => Object.keys(WEIGHTS).map((w) => [d, w] as const));
  const lines = [`| method | ${cols.map(([d, w]) => `${d} ${w}`).join(' | ')} | evals/sample | s/run |`, `|---|${cols.map(() => '---').join('|')}|---|---|`];
  for (const method of [...new Set(cells.map((c) => c.method))]) {
    const row = cols.map(([d, w]) => { const c = cells.find((x) => x.dataset === d && x.weight === w && x.method === method); return c ? ms(c.jsd) : '-'; });
    const any = cells.find((x) => x.method === method)!;
    const secs = cells.filter((x) => x.method === method).flatMap((x) => x.seconds);
    lines.push(`| ${method} | ${row.join(' | ')} | ${any.evaluationsPerSample.toFixed(0)} | ${(secs.reduce((a, b) => a + b, 0) / secs.length).toFixed(0)} |`);
  }
  lines.push(`| floor | ${cols.map(([d, w]) => { const c = cells.find((x) => x.dataset === d && x.weight === w); return c ? ms(c.floor) : '-'; }).join(' | ')} | | |`);
  console.log(lines.join('\n'));
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  writeFileSync(outFile, `${JSON.stringify({
    benchmark: 'ISSGM Table 1/2 protocol: JSD 64x64 bins on [-4.5,4.5]^2, natural log; ground truth by accept/reject from data samples; floor = two ground-truth sets',
    n, steps, seeds, models: modelsDir, engine: source0?.record.engine, node: process.version, cpu: cpus()[0]?.model, date: new Date().toISOString(), cells, markdown: lines.join('\n'),
  }, null, 2)}\n`);
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
