/**
 * Sinusoidal time embedding (Vaswani et al. 2017, Sec. 3.5; used for diffusion time by Ho et al.
 * 2020, App. B): for `half = embDim / 2` frequencies `f_k = exp(-ln(10000) k / (half - 1))`,
 *
 *   emb(t) = [sin(S t f_0), ..., sin(S t f_{half-1}), cos(S t f_0), ..., cos(S t f_{half-1})],
 *
 * with the time scale `S = 1000`, so that the continuous time `t in [0, 1]` spans the same
 * phases as DDPM's integer step `i = 1000 t` (Song et al. 2021's VP models feed `999 t`). Both
 * the continuous VP and the discrete DDPM trainers feed `t = i / T`, so one network serves both.
 */
export const TIME_SCALE = 1000;

/** The `half` frequencies, pre-multiplied by the time scale (float64). */
export function embeddingFrequencies(embDim: number): Float64Array {
  if (!Number.isInteger(embDim) || embDim < 2 || embDim % 2 !== 0) {
    throw new RangeError(`time embedding size must be an even integer >= 2, got ${embDim}`);
  }
  const half = embDim / 2;
  const out = new Float64Array(half);
  const denom = Math.max(1, half - 1);
  for (let k = 0; k < half; k++) out[k] = TIME_SCALE * Math.exp((-Math.log(10000) * k) / denom);
  return out;
}

/** `emb(t)` for one time, into `out[offset .. offset + embDim)` (float64 reference path). */
export function embedTime(freqs: Float64Array, t: number, out: Float64Array, offset = 0): void {
  const half = freqs.length;
  for (let k = 0; k < half; k++) {
    out[offset + k] = Math.sin(t * freqs[k]);
    out[offset + half + k] = Math.cos(t * freqs[k]);
  }
}
