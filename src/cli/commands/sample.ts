/** `tweedie sample --target NAME --n N`: exact samples of a built-in target, as .npy. */
import { join } from 'node:path';
import type { Command } from 'commander';
import { keyFromSeed } from '../../core/key.js';
import { writeNpy } from '../../io/npy.js';
import { InputError } from '../../io/errors.js';
import { scatterPlot } from '../../plot/scatter.js';
import { getSampleable, sampleableTargetNames } from '../../targets/registry.js';
import { parseNonNegativeInt, parsePositiveInt } from '../options.js';
import { ensureOutDir, stopwatch, writeResult } from '../output.js';

interface SampleOptions {
  target: string;
  n: number;
  seed: number;
  out: string;
  plot: boolean;
}

export function registerSample(program: Command): void {
  program
    .command('sample')
    .description('draw exact samples of a built-in target and write DIR/samples.npy (+ a scatter plot for 2-D)')
    .requiredOption('--target <name>', `built-in target: ${sampleableTargetNames().join(', ')}`)
    .option('--n <N>', 'number of samples', parsePositiveInt, 10_000)
    .option('--seed <S>', 'random seed (non-negative integer)', parseNonNegativeInt, 0)
    .option('--out <DIR>', 'output folder', 'runs/sample')
    .option('--no-plot', 'skip the scatter plot')
    .addHelpText('after', '\nExample:\n  tweedie sample --target 2spirals --n 10000 --seed 1 --out runs/spirals\n')
    .action(async (opts: SampleOptions) => {
      const names = sampleableTargetNames();
      if (!names.includes(opts.target)) {
        throw new InputError(`unknown target '${opts.target}'; choose one of ${names.join(', ')}`);
      }
      const clock = stopwatch();
      const target = getSampleable(opts.target);
      const samples = target.sample(keyFromSeed(opts.seed), opts.n);
      const sampleSeconds = clock();
      const dir = ensureOutDir(opts.out);
      const outputs: Record<string, string> = { samples: 'samples.npy' };
      writeNpy(join(dir, 'samples.npy'), samples);
      if (opts.plot && samples.dim >= 2) {
        const title = `${opts.target}: ${opts.n} exact samples (seed ${opts.seed})`;
        await scatterPlot(join(dir, 'samples.png'), [{ name: opts.target, points: samples }], { title });
        await scatterPlot(join(dir, 'samples.svg'), [{ name: opts.target, points: samples }], { title });
        outputs.plot = 'samples.png';
      }
      writeResult(dir, {
        command: 'sample',
        seed: opts.seed,
        config: { target: opts.target, n: opts.n, dim: samples.dim },
        outputs,
        timings: { sampleSeconds, totalSeconds: clock() },
      });
      process.stdout.write(`wrote ${opts.n} x ${samples.dim} samples of ${opts.target} to ${join(dir, 'samples.npy')}\n`);
    });
}
