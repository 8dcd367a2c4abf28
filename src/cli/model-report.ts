/**
 * What `train` and `sample --model` report about a model's samples: W2 (and, in 2-D, the JSD
 * protocol of SPEC §2) against data, next to the floor of two data sets of the same size, and
 * a scatter plot for 2-D data.
 */
import { join } from 'node:path';
import type { Batch } from '../core/batch.js';
import { type Key, split } from '../core/key.js';
import { type MetricName, compareSamples } from '../evaluate/compare.js';
import type { TrainingData } from '../io/training-data.js';
import { scatterPlot } from '../plot/scatter.js';

export interface ModelReport {
  metrics: Record<string, number>;
  floor: Record<string, number>;
  protocol: Record<string, unknown>;
  plots: string[];
}

/** Default JSD/TVD protocol for 2-D toy data (SPEC §2): 64 x 64 bins on [-4.5, 4.5]^2. */
export const TOY_HISTOGRAM = { bins: 64, range: 4.5 };

export async function reportModelSamples(
  key: Key, samples: Batch, data: TrainingData, dir: string, title: string, opts: { maxTransport?: number } = {},
): Promise<ModelReport> {
  const [kRef, kFloor, kM1, kM2] = split(key, 4);
  const n = samples.n;
  const reference = data.reference(kRef, n);
  const floorSet = data.reference(kFloor, n);
  const metrics: MetricName[] = samples.dim === 2 ? ['w2', 'jsd'] : ['w2', 'mean'];
  const opts2 = { metrics, ...TOY_HISTOGRAM, maxTransportPoints: opts.maxTransport ?? 2000 };
  const main = compareSamples(kM1, samples, reference, opts2);
  const floor = compareSamples(kM2, floorSet, reference, opts2);
  const plots: string[] = [];
  if (samples.dim === 2) {
    const series = [{ name: 'model', points: samples }, { name: `data (${data.source})`, points: reference }];
    for (const f of ['samples.png', 'samples.svg']) {
      await scatterPlot(join(dir, f), series, { title, layout: 'panels', range: [-TOY_HISTOGRAM.range, TOY_HISTOGRAM.range] });
      plots.push(f);
    }
  }
  return { metrics: main.metrics, floor: floor.metrics, protocol: { ...opts2, ...main.protocol }, plots };
}

/** One line per metric: value, floor and their ratio. */
export function formatReport(r: ModelReport): string {
  return Object.entries(r.metrics)
    .map(([k, v]) => {
      const f = r.floor[k];
      return `  ${k.padEnd(9)} ${v.toFixed(4).padStart(9)}   floor ${f.toFixed(4).padStart(9)}   ratio ${(v / f).toFixed(2)}`;
    })
    .join('\n');
}
