/**
 * Learning-rate schedule: linear warm-up, then cosine decay (Loshchilov & Hutter 2017, SGDR
 * eq. 5, one cycle, no restarts) to `minLrFactor * lr` at `totalSteps`.
 *
 * For update number k = 0, 1, ... (the k-th update applied, counted before it is applied):
 *   warm-up   k < W:  lr_k = lr (k + 1) / W            (never 0, so the first step moves);
 *   cosine    k >= W: lr_k = lr (m + (1 - m) (1 + cos(pi p)) / 2),  p = min(1, (k - W) / (K - W)),
 * with W = warmupSteps, K = totalSteps, m = minLrFactor; 'constant' keeps lr after warm-up.
 */
export interface LrScheduleConfig {
  lr: number;
  warmupSteps: number;
  totalSteps: number;
  lrSchedule: 'cosine' | 'constant';
  minLrFactor: number;
}

export function learningRate(cfg: LrScheduleConfig, k: number): number {
  const W = Math.max(0, Math.floor(cfg.warmupSteps));
  if (k < W) return (cfg.lr * (k + 1)) / W;
  if (cfg.lrSchedule === 'constant') return cfg.lr;
  const span = Math.max(1, cfg.totalSteps - W);
  const p = Math.min(1, Math.max(0, (k - W) / span));
  const m = cfg.minLrFactor;
  return cfg.lr * (m + (1 - m) * 0.5 * (1 + Math.cos(Math.PI * p)));
}
