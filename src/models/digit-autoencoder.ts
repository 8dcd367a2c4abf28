/**
 * A small digit autoencoder (64-32-8-32-64 MLP, SiLU, linear output) on the bundled UCI digits in
 * the score model's units ([-1, 1]), and its reconstruction distortion as an ISSGM importance
 * weight: the paper's Sec. 4.2 (a neural compressor `F_dec(F_enc(x))`, `l(x) = D(F_dec(F_enc(x)),
 * x)` with D the MSE, so that `q ∝ l p` over-samples the inputs the compressor fails on; Fig. 3
 * and Table 2: `E_p[l] = 3.07e-4`, `E_q[l] = 6.09e-4` on CSI data).
 *
 * Distortion here: `D(x) = (1/64) sum_j (AE(x)_j - x_j)^2`, the per-pixel MSE in model units
 * (a pixel step of 1 out of 16 grey levels is 1/8 there). `log l = log D`, with the gradient by
 * autodiff through the encoder and decoder and the direct `-x` path.
 */
import type { Batch } from '../core/batch.js';
import { initEngine, np, rowValues, valueAndGrad, type JaxArray } from '../core/engine.js';
import { split, type Key } from '../core/key.js';
import type { LogWeight } from '../core/types.js';
import { toEngineWeights } from './layers.js';
import { initPlainMlp, plainMlpApply, plainMlpPredictor, plainMlpSpecs, trainPlainMlp, type PlainMlpConfig } from './plain-mlp.js';
import type { Tensors } from './tensors.js';

/** 64 -> 32 -> 8 (the code) -> 32 -> 64, SiLU between, linear output. */
export function digitAutoencoderConfig(): PlainMlpConfig {
  return { sizes: [64, 32, 8, 32, 64], activation: 'silu' };
}

export interface AutoencoderTrainOptions {
  steps: number;
  batch: number;
  lr: number;
}

/** 4000 Adam steps of 128 rows at lr 3e-3: seconds on one core. */
export function defaultAutoencoderTrainOptions(): AutoencoderTrainOptions {
  return { steps: 4000, batch: 128, lr: 3e-3 };
}

export interface DigitAutoencoder {
  readonly config: PlainMlpConfig;
  readonly params: Tensors;
}

/** Train the autoencoder to reconstruct `images` (`[n, 64]` in [-1, 1]) by MSE with Adam. */
export async function trainDigitAutoencoder(
  key: Key, images: Batch, opts: AutoencoderTrainOptions = defaultAutoencoderTrainOptions(),
): Promise<DigitAutoencoder & { losses: Float64Array; seconds: number }> {
  const config = digitAutoencoderConfig();
  const [kInit, kData] = split(key, 2);
  const r = await trainPlainMlp(kData, config, initPlainMlp(kInit, config), images, images, { loss: 'mse', ...opts });
  return { config, params: r.params, losses: r.losses, seconds: r.seconds };
}

/** Per-row distortion `D(x) = mean_j (AE(x)_j - x_j)^2` (float32 network, float64 sums). */
export async function reconstructionError(ae: DigitAutoencoder, x: Batch): Promise<Float64Array> {
  await initEngine();
  const pred = plainMlpPredictor(ae.config, ae.params);
  try {
    const r = pred.apply(x);
    const out = new Float64Array(x.n);
    for (let i = 0; i < x.n; i++) {
      let s = 0;
      for (let j = i * x.dim; j < (i + 1) * x.dim; j++) s += (r.data[j] - x.data[j]) ** 2;
      out[i] = s / x.dim;
    }
    return out;
  } finally {
    pred.dispose();
  }
}

/**
 * ISSGM's weight `l(x) = D(x)`, the autoencoder's per-pixel reconstruction MSE (paper Sec. 4.2):
 * `log l = log D(x)`, gradient by autodiff. `D > 0` except on exact fixed points of the
 * autoencoder (never met in practice); the sampler's floor covers them. The engine must be started.
 */
export function reconstructionErrorWeight(ae: DigitAutoencoder): LogWeight & { readonly description: string } {
  const dim = ae.config.sizes[0];
  const w = toEngineWeights(plainMlpSpecs(ae.config), ae.params, 'autoencoder parameters');
  const f = (x: JaxArray): JaxArray => np.log(np.mean(np.square(np.subtract(plainMlpApply(ae.config, w, x), x)), -1));
  const name = 'autoencoder distortion';
  return {
    dim, description: `l(x) = mean_j (AE(x)_j - x_j)^2, the ${ae.config.sizes.join('-')} MLP autoencoder's reconstruction MSE`,
    value: rowValues(f, { dim, name }),
    valueAndGrad: valueAndGrad(f, { dim, name }),
  };
}
