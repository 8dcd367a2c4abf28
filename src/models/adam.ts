/**
 * Adam (Kingma & Ba 2015, Algorithm 1) with global gradient-norm clipping (Pascanu et al. 2013,
 * Sec. 3.2; as `torch.nn.utils.clip_grad_norm_` / optax `clip_by_global_norm`), on pytrees of
 * engine arrays, for use inside a compiled training step.
 *
 * Update k (1-based t = k + 1 in the paper's notation), for each parameter array:
 *   m <- b1 m + (1 - b1) g
 *   v <- b2 v + (1 - b2) g^2
 *   p <- p - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
 * exactly PyTorch's `torch.optim.Adam` (eps outside the square root, added after bias correction).
 * The bias corrections `1/(1 - b^t)` are computed in float64 on the TS side and passed in.
 */
import { np, type JaxArray } from '../core/engine.js';

export interface AdamConfig {
  beta1: number;
  beta2: number;
  eps: number;
}

/** `1 / (1 - beta1^t)` and `1 / (1 - beta2^t)` for update number t = 1, 2, ... */
export function adamBiasCorrections(cfg: AdamConfig, t: number): { c1: number; c2: number } {
  return { c1: 1 / (1 - Math.pow(cfg.beta1, t)), c2: 1 / (1 - Math.pow(cfg.beta2, t)) };
}

/** Global L2 norm of the gradient leaves: `sqrt(sum_leaves sum g^2)` (a scalar array). */
export function globalNorm(leaves: JaxArray[]): JaxArray {
  let s: JaxArray | undefined;
  for (const g of leaves) {
    const q = np.sum(np.square(g));
    s = s === undefined ? q : np.add(s, q);
  }
  return np.sqrt(s!);
}

/**
 * Clip factor `min(1, maxNorm / norm)`, written `maxNorm / max(norm, maxNorm)` so that it is
 * exactly 1 below the threshold and finite at norm 0. `maxNorm <= 0` or `Infinity` disables it.
 */
export function clipFactor(norm: JaxArray, maxNorm: number): JaxArray | number {
  if (!(maxNorm > 0) || !Number.isFinite(maxNorm)) return 1;
  return np.divide(maxNorm, np.maximum(norm, maxNorm));
}

/**
 * One Adam update of one array; `lr`, `c1`, `c2` are scalars (numbers or 0-d arrays).
 * Returns the new `[p, m, v]`. Non-consuming (engine `np`).
 */
export function adamLeaf(
  cfg: AdamConfig, p: JaxArray, g: JaxArray, m: JaxArray, v: JaxArray,
  lr: JaxArray | number, c1: JaxArray | number, c2: JaxArray | number,
): [JaxArray, JaxArray, JaxArray] {
  const m2 = np.add(np.multiply(m, cfg.beta1), np.multiply(g, 1 - cfg.beta1));
  const v2 = np.add(np.multiply(v, cfg.beta2), np.multiply(np.square(g), 1 - cfg.beta2));
  const denom = np.add(np.sqrt(np.multiply(v2, c2)), cfg.eps);
  const p2 = np.subtract(p, np.multiply(lr, np.divide(np.multiply(m2, c1), denom)));
  return [p2, m2, v2];
}
