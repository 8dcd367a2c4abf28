/**
 * The default configuration of `tweedie amortized train`: the paper's model and schedule with the
 * posterior-sampling budget spent where measurement says it pays (see the numbers in the README's
 * amortized section and `bench/results/amortized*.json`).
 */
import { paperAmortizedConfig, type AmortizedConfig } from './train.js';

export function defaultAmortizedConfig(dim: number, posterior: 'ais' | 'hmc' = 'ais'): AmortizedConfig {
  const c = paperAmortizedConfig(dim, posterior);
  if (c.posterior.kind === 'ais') c.posterior.particles = 100;
  c.epochs = 600;
  return c;
}
