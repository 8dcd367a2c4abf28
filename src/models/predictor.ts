/**
 * A network's forward pass as a plain float64 function of `(x, t)`, for any architecture: float32
 * inside one compiled program per bucketed batch shape, float64 out. `mlp.ts` and `egnn.ts` build
 * their predictors on it (`networkPredictor`, `egnnPredictor`).
 */
import type { Batch } from '../core/batch.js';
import { arrayF32, disposeTree, enableKernelInstanceCache, jitTree, np, readF32, refTree, type ArrayTree, type JaxArray } from '../core/engine.js';

export interface NetworkPredictor {
  readonly dim: number;
  /** The raw network output (in its parametrisation) at `(x, t)`, float64. */
  predict(x: Batch, t: number | Float64Array): Batch;
  /** Give back the engine memory holding the weights. */
  dispose(): void;
}

/**
 * Rows per compiled call; larger batches run in chunks of this many rows. Measured on the
 * default MLP, 10,000 rows: chunks of 2048 took 90 ms, 1024 and 512 ~66 ms, 256 ~100 ms
 * (jax-js' matmul slows down more than linearly with the row count beyond ~512 rows).
 */
const CHUNK = 1024;

/**
 * Padded size of a batch of `n <= CHUNK` rows: powers of two up to 256, then multiples of 256, so
 * that a sampler calling with arbitrary sizes compiles at most ~10 shapes and wastes < 2x (< 1.3x
 * above 256 rows) of the work.
 */
export function bucketSize(n: number): number {
  if (n <= 256) {
    let b = 8;
    while (b < n) b *= 2;
    return b;
  }
  return Math.ceil(n / 256) * 256;
}

/**
 * The predictor of `apply(params, x, t)` (`x` `[m, dim]`, `t` `[m, 1]` or `[1, 1]`, output
 * `[m, dim]`, non-consuming, written with the engine's `np`). Takes ownership of `params` (engine
 * arrays; given back by `dispose()`). The engine must be started.
 */
export function compiledPredictor<P extends ArrayTree>(
  dim: number, params: P, apply: (p: P, x: JaxArray, t: JaxArray) => JaxArray, name = 'network',
): NetworkPredictor {
  enableKernelInstanceCache();
  let p: P | undefined = params;
  // `np.add(..., 0)`: return a fresh array the caller owns (the non-consuming `np` never gave up
  // its references to the traced value).
  const fwd = jitTree((pp: P, x: JaxArray, t: JaxArray) => np.add(apply(pp, x, t), 0));

  const runChunk = (x: Batch, t: number | Float64Array, start: number, rows: number, out: Float64Array): void => {
    const m = bucketSize(rows);
    const xs = new Float32Array(m * dim);
    for (let k = 0; k < rows * dim; k++) xs[k] = x.data[start * dim + k];
    // One time for all rows (what the samplers pass): a [1, 1] time, so that the embedding and
    // its first-layer product are computed once and broadcast over the rows.
    let ta: JaxArray;
    if (typeof t === 'number') ta = arrayF32(Float32Array.of(t), [1, 1]);
    else {
      const ts = new Float32Array(m);
      for (let i = 0; i < rows; i++) ts[i] = t[start + i];
      ta = arrayF32(ts, [m, 1]);
    }
    const y = readF32(fwd(refTree(p!), arrayF32(xs, [m, dim]), ta));
    for (let k = 0; k < rows * dim; k++) out[start * dim + k] = y[k];
  };

  return {
    dim,
    predict(x: Batch, t: number | Float64Array): Batch {
      if (p === undefined) throw new Error(`${name} predictor used after dispose()`);
      if (x.dim !== dim) throw new RangeError(`${name} expects points of dimension ${dim}, got dimension ${x.dim}`);
      if (typeof t !== 'number' && t.length !== x.n) throw new RangeError(`${name}: ${t.length} times for ${x.n} rows`);
      const out = new Float64Array(x.n * dim);
      for (let start = 0; start < x.n; start += CHUNK) runChunk(x, t, start, Math.min(CHUNK, x.n - start), out);
      return { n: x.n, dim, data: out };
    },
    dispose(): void {
      if (p !== undefined) disposeTree(p);
      fwd.dispose();
      p = undefined;
    },
  };
}
