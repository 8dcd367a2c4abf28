/**
 * Exponential moving average of the weights (Polyak & Juditsky 1992; as used for diffusion models
 * by Song & Ermon 2020 and Ho et al. 2020, decay 0.9999 there), after each applied update:
 *
 *   ema <- d_k ema + (1 - d_k) p,   d_k = min(decay, (1 + k) / (10 + k)),
 *
 * for update number k = 0, 1, ... . The warm-up of the decay (TensorFlow's
 * `ExponentialMovingAverage(num_updates=...)`, also in the DDPM and score_sde code bases) lets the
 * average follow the weights early on, when a fixed 0.999 would keep it near the random
 * initialisation for thousands of steps: d_0 = 0.1, d_10 = 0.55, d_90 = 0.91, and the full
 * decay from k = 9000 on for decay = 0.999. `warmup: false` uses d_k = decay throughout.
 */
import { np, type JaxArray } from '../core/engine.js';

export function emaDecayAt(decay: number, k: number, warmup = true): number {
  return warmup ? Math.min(decay, (1 + k) / (10 + k)) : decay;
}

/** `d ema + (1 - d) p` for one array (non-consuming). */
export function emaLeaf(ema: JaxArray, p: JaxArray, d: JaxArray | number): JaxArray {
  return np.add(np.multiply(ema, d), np.multiply(p, np.subtract(1, d)));
}
