/** `tweedie eval --samples A.npy --reference B.npy`: SPEC §4 metrics, optionally with the floor. */
import { join } from 'node:path';
import type { Command } from 'commander';
import { keyFromSeed, split } from '../../core/key.js';
import { readNpyBatch } from '../../io/npy.js';
import { InputError } from '../../io/errors.js';
import { ENERGY_NAMES, METRIC_NAMES, type EnergyName, type MetricName, compareSamples } from '../../evaluate/compare.js';
import { choiceParser, listParser, parseNonNegativeInt, parsePositiveInt, parsePositiveNumber } from '../options.js';
import { ensureOutDir, stopwatch, writeResult } from '../output.js';

interface EvalOptions {
  samples: string;
  reference: string;
  floor?: string;
  metrics?: MetricName[];
  bins: number;
  range: number;
  energy?: EnergyName;
  maxTransport: number;
  seed: number;
  out: string;
}

export function registerEval(program: Command): void {
  program
    .command('eval')
    .description('compare a sample set with a reference set (W1, W2, histogram TVD/JSD, mean errors, DW-4 energy TVD)')
    .requiredOption('--samples <A.npy>', 'samples to judge (n x dim .npy, float32/float64)')
    .requiredOption('--reference <B.npy>', 'reference samples (same dim)')
    .option('--floor <REF2.npy>', 'a second reference set: its metrics against the reference are the noise floor')
    .option('--metrics <list>', `comma-separated from ${METRIC_NAMES.join(',')} [default: all that apply: w1,w2,mean and, for 2-D, tvd,jsd]`, listParser(METRIC_NAMES))
    .option('--bins <B>', 'histogram bins per axis for tvd/jsd', parsePositiveInt, 64)
    .option('--range <L>', 'histogram square [-L, L]^2 for tvd/jsd', parsePositiveNumber, 4.5)
    .option('--energy <name>', `particle energy for energy/interatomic-distance TVD (centres each sample): ${ENERGY_NAMES.join(', ')}`, choiceParser(ENERGY_NAMES))
    .option('--max-transport <N>', 'sub-sample to at most N points for exact W1/W2 (O(N^3))', parsePositiveInt, 5000)
    .option('--seed <S>', 'seed for the sub-samples of exact W', parseNonNegativeInt, 0)
    .option('--out <DIR>', 'output folder', 'runs/eval')
    .addHelpText('after', '\nExample:\n  tweedie eval --samples runs/a/samples.npy --reference runs/b/samples.npy --floor runs/c/samples.npy --out runs/eval\n')
    .action((opts: EvalOptions) => {
      const clock = stopwatch();
      const samples = readNpyBatch(opts.samples);
      const reference = readNpyBatch(opts.reference, { dim: samples.dim });
      const floorSet = opts.floor === undefined ? undefined : readNpyBatch(opts.floor, { dim: samples.dim });
      const metrics: MetricName[] = opts.metrics ?? (samples.dim === 2 ? [...METRIC_NAMES] : ['w1', 'w2', 'mean']);
      if (samples.n < 2 || reference.n < 2) throw new InputError('eval needs at least 2 samples in each set');
      const compareOpts = { metrics, bins: opts.bins, range: opts.range, energy: opts.energy, maxTransportPoints: opts.maxTransport };
      const [kMain, kFloor] = split(keyFromSeed(opts.seed), 2);
      let result;
      let floor;
      try {
        result = compareSamples(kMain, samples, reference, compareOpts);
        floor = floorSet ? compareSamples(kFloor, floorSet, reference, compareOpts) : undefined;
      } catch (e) {
        if (e instanceof RangeError) throw new InputError(e.message);
        throw e;
      }
      const dir = ensureOutDir(opts.out);
      writeResult(dir, {
        command: 'eval',
        seed: opts.seed,
        config: { samples: opts.samples, reference: opts.reference, floor: opts.floor ?? null, ...compareOpts, protocol: result.protocol },
        metrics: result.metrics,
        floor: floor?.metrics,
        timings: { totalSeconds: clock() },
      });
      const lines = Object.entries(result.metrics).map(([k, v]) => {
        const f = floor?.metrics[k];
        return `  ${k.padEnd(13)} ${v.toPrecision(6).padStart(12)}${f === undefined ? '' : `   floor ${f.toPrecision(6).padStart(12)}`}`;
      });
      process.stdout.write(`${lines.join('\n')}\nwrote ${join(dir, 'result.json')}\n`);
    });
}
