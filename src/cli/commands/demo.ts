/**
 * `tweedie demo`: reverse diffusion of GMM-40 with its exact diffused score (no network), judged
 * against exact samples next to the noise floor (two independent exact sets), with a plot.
 * Shows the whole pipeline — SDE, solver, metrics, outputs — on built-in defaults in seconds.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { keyFromSeed, split } from '../../core/key.js';
import { VPSDE } from '../../diffusion/vp.js';
import { sampleReverseSDE } from '../../diffusion/em.js';
import { compareSamples } from '../../evaluate/compare.js';
import { writeNpy } from '../../io/npy.js';
import { scatterPlot } from '../../plot/scatter.js';
import { gmm40 } from '../../targets/gmm40.js';
import type { IssgmCorrection } from '../../issgm/sampler.js';
import { choiceParser, parseNonNegativeInt, parsePositiveInt } from '../options.js';
import { ensureOutDir, stopwatch, writeResult } from '../output.js';
import { createProgress } from '../progress.js';
import { issgmCommand } from './issgm.js';

interface DemoOptions {
  n?: number;
  steps?: number;
  seed: number;
  out: string;
  gmm40: boolean;
  correction: IssgmCorrection;
}

/** The bundled score model of 2spirals (trained by `tweedie train --data 2spirals` with the defaults). */
export const BUNDLED_SPIRAL_MODEL = fileURLToPath(new URL('../../../data/2spirals-model.safetensors', import.meta.url));

/** Histogram protocol for GMM-40 2-D: its means lie in [-40, 40]^2, std 1.31. */
const GMM40_HIST = { bins: 64, range: 50 };

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('ISSGM on the bundled 2spirals score model with l(x) = |x|^2 (the paper\'s Table 2 setting): samples of q, JSD to ground truth with the floor, E_p[l], E_q[l], plots. --gmm40: reverse diffusion of GMM-40 with its exact score instead')
    .option('--n <N>', 'number of samples [ISSGM 5000, GMM-40 2000]', parsePositiveInt)
    .option('--steps <S>', 'reverse-SDE Euler–Maruyama steps [ISSGM 500, GMM-40 1000]', parsePositiveInt)
    .option('--seed <S>', 'random seed', parseNonNegativeInt, 0)
    .option('--out <DIR>', 'output folder', 'runs/demo')
    .option('--correction <c>', "ISSGM's weight term: none (the paper's eq. 16) or variance (the posterior-variance correction; see tweedie issgm --help)", choiceParser(['none', 'variance'] as const), 'none')
    .option('--gmm40', 'the exact-score GMM-40 reverse-diffusion demo', false)
    .action(async (opts: DemoOptions) => {
      if (!opts.gmm40) {
        return issgmCommand({
          model: BUNDLED_SPIRAL_MODEL, weight: 'norm2', n: opts.n ?? 5000, steps: opts.steps ?? 500, eps0: 1e-3, floor: 1e-6,
          bins: 64, range: 4.5, panelTimes: 5, seed: opts.seed, out: opts.out, quiet: false, correction: opts.correction,
        });
      }
      const n = opts.n ?? 2000;
      const steps = opts.steps ?? 1000;
      const clock = stopwatch();
      const target = gmm40();
      const sde = new VPSDE({ betaMin: 0.1, betaMax: 20 });
      const [kSample, kRef, kFloor, kMetric] = split(keyFromSeed(opts.seed), 4);
      const progress = createProgress('reverse SDE', steps);
      const samples = sampleReverseSDE(kSample, target.diffusedScore(sde), sde, {
        n,
        steps,
        callback: ({ step }) => progress.tick(step + 1),
      });
      progress.finish();
      const sampleSeconds = clock();
      const reference = target.sample(kRef, n);
      const floorSet = target.sample(kFloor, n);
      const protocol = { metrics: ['w1', 'w2', 'tvd', 'mean'] as const, ...GMM40_HIST };
      process.stderr.write(`exact W1/W2 on ${n} vs ${n} points (and the floor)...\n`);
      const [kM1, kM2] = split(kMetric, 2);
      const result = compareSamples(kM1, samples, reference, protocol);
      const floor = compareSamples(kM2, floorSet, reference, protocol);
      const dir = ensureOutDir(opts.out);
      writeNpy(join(dir, 'samples.npy'), samples);
      writeNpy(join(dir, 'reference.npy'), reference);
      const series = [
        { name: 'reverse SDE (exact score)', points: samples },
        { name: 'exact samples', points: reference },
      ];
      const title = `GMM-40: ${n} samples, ${steps} Euler–Maruyama steps`;
      const range = [-GMM40_HIST.range, GMM40_HIST.range] as const;
      await scatterPlot(join(dir, 'samples.png'), series, { title, range, layout: 'panels' });
      await scatterPlot(join(dir, 'samples.svg'), series, { title, range, layout: 'panels' });
      writeResult(dir, {
        command: 'demo',
        seed: opts.seed,
        config: {
          target: 'gmm40', n, steps, sampler: 'reverse-sde-euler-maruyama', grid: 'uniform',
          tMin: 1e-3, denoiseLast: true, sde: { type: 'vp', betaMin: sde.betaMin, betaMax: sde.betaMax },
          protocol: { ...protocol, ...result.protocol },
        },
        metrics: result.metrics,
        floor: floor.metrics,
        outputs: { samples: 'samples.npy', reference: 'reference.npy', plot: 'samples.png' },
        timings: { sampleSeconds, totalSeconds: clock() },
      });
      const rows = Object.entries(result.metrics).map(
        ([k, v]) => `  ${k.padEnd(9)} ${v.toFixed(4).padStart(9)}   floor ${floor.metrics[k].toFixed(4).padStart(9)}`,
      );
      process.stdout.write(`GMM-40, ${n} samples vs exact (metric, value, floor = exact vs exact):\n${rows.join('\n')}\nwrote ${dir}/{samples.npy,reference.npy,samples.png,samples.svg,result.json}\n`);
    });
}
