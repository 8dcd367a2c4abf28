/**
 * A network given as an ONNX graph, as a predictor and a `ScoreModel`: a user's PyTorch export or
 * this project's own MLP (`io/onnx-export.ts`). Two backends behind one interface:
 *
 *  - `onnxruntime`: onnxruntime-node's CPU kernels (`core/onnx-runtime.ts`), float32, the whole
 *    batch in one synchronous call; the fast path of the sampling hot loops (DESIGN,
 *    "Performance shape": ~10x jax-js on a batch-10,000 MLP forward);
 *  - `jax`: the graph run as jax-js ops (`core/engine.ts`, `@jax-js/onnx`) inside the same
 *    bucketed, compiled predictor as our own networks (`predictor.ts`).
 *
 * `backend: 'auto'` (the default) takes onnxruntime when it is installed and falls back to jax-js
 * with one process warning. Both read float32 inputs and return float64 outputs; they agree to
 * float32 rounding (tested), so samples agree within float32 tolerance either way.
 */
import type { Batch } from '../core/batch.js';
import { initEngine, np, type JaxArray } from '../core/engine.js';
import { onnxEngineFunction } from '../core/engine.js';
import { createOrtSession, loadOnnxRuntime, type OrtSession, type OrtSessionOptions } from '../core/onnx-runtime.js';
import type { NoiseSchedule, ScoreModel } from '../core/types.js';
import { scoreModelFrom, type Parametrisation } from '../diffusion/parametrisation.js';
import { compiledPredictor, type NetworkPredictor } from './predictor.js';

export const ONNX_BACKENDS = ['auto', 'onnxruntime', 'jax'] as const;
export type OnnxBackend = (typeof ONNX_BACKENDS)[number];

/** How to call the graph: tensor names, data dimension, and the form of its time input. */
export interface OnnxNetworkSpec {
  dim: number;
  /** Graph input taking `x` float32 `[n, dim]`. */
  x: string;
  /** Graph input taking the time, float32 `[n, 1]` (`tRank` 2) or `[n]` (`tRank` 1). */
  t: string;
  tRank: 1 | 2;
  /** Graph output `[n, dim]`. */
  output: string;
  /** The network sees `t * timeScale + timeOffset` (1, 0: continuous t in [0, 1]; 999, 0: step index). */
  timeScale: number;
  timeOffset?: number;
}

export interface OnnxPredictorOptions {
  backend?: OnnxBackend;
  /** onnxruntime intra-op threads [2]. */
  threads?: number;
}

export interface OnnxPredictor extends NetworkPredictor {
  /** The backend actually used. */
  readonly backend: 'onnxruntime' | 'jax';
}

/**
 * Rows per onnxruntime call: bounds the float32 staging buffers (and the runtime's activations,
 * ~0.5 KB a row for a 128-wide MLP) for very large particle sets; at 10,000 rows one call.
 */
const ORT_CHUNK = 16_384;

function checkCall(dim: number, x: Batch, t: number | Float64Array, name: string): void {
  if (x.dim !== dim) throw new RangeError(`${name} expects points of dimension ${dim}, got dimension ${x.dim}`);
  if (typeof t !== 'number' && t.length !== x.n) throw new RangeError(`${name}: ${t.length} times for ${x.n} rows`);
}

function ortPredictor(session: OrtSession, spec: OnnxNetworkSpec): OnnxPredictor {
  const { dim } = spec;
  const offset = spec.timeOffset ?? 0;
  // Float32 staging buffers kept across calls: the samplers call with the same batch size every
  // step (twice per ISSGM step), so a fresh pair per call would only feed the garbage collector.
  // Safe to reuse: `session.run` is synchronous and has read its feeds when it returns.
  let xsBuf = new Float32Array(0);
  let tsBuf = new Float32Array(0);
  // The value the time column of the last call was filled with (all rows one time), to skip the
  // refill when the next call has the same time: ISSGM evaluates s(x, t) and s(x + eps g, t).
  let tsFilled: number | undefined;
  return {
    dim,
    backend: 'onnxruntime',
    predict(x: Batch, t: number | Float64Array): Batch {
      checkCall(dim, x, t, 'ONNX network');
      const out = new Float64Array(x.n * dim);
      const chunk = Math.min(ORT_CHUNK, x.n);
      if (xsBuf.length < chunk * dim) {
        xsBuf = new Float32Array(chunk * dim);
        tsBuf = new Float32Array(chunk);
        tsFilled = undefined;
      }
      for (let start = 0; start < x.n; start += ORT_CHUNK) {
        const rows = Math.min(ORT_CHUNK, x.n - start);
        const xs = xsBuf.subarray(0, rows * dim);
        const xd = x.data;
        const base = start * dim;
        for (let k = 0; k < rows * dim; k++) xs[k] = xd[base + k];
        // The graph takes one time per row even when all rows share one (what the samplers pass).
        const ts = tsBuf.subarray(0, rows);
        if (typeof t === 'number') {
          const tv = t * spec.timeScale + offset;
          if (tsFilled !== tv) {
            tsBuf.fill(tv);
            tsFilled = tv;
          }
        } else {
          for (let i = 0; i < rows; i++) ts[i] = t[start + i] * spec.timeScale + offset;
          tsFilled = undefined;
        }
        const r = session.run({ [spec.x]: [xs, [rows, dim]], [spec.t]: [ts, spec.tRank === 2 ? [rows, 1] : [rows]] }, [spec.output])[spec.output];
        if (r.dims.length !== 2 || r.dims[0] !== rows || r.dims[1] !== dim) {
          throw new RangeError(`ONNX network returned shape [${r.dims.join(', ')}] for ${rows} rows; expected [${rows}, ${dim}]`);
        }
        const rd = r.data;
        for (let k = 0; k < rows * dim; k++) out[base + k] = rd[k];
      }
      return { n: x.n, dim, data: out };
    },
    dispose: () => session.dispose(),
  };
}

async function jaxPredictor(bytes: Uint8Array, spec: OnnxNetworkSpec): Promise<OnnxPredictor> {
  await initEngine();
  const fn = await onnxEngineFunction(bytes);
  // The graph's weights live inside `fn` (captured as constants of the compiled program); the
  // predictor's own parameter tree is empty.
  const inner = compiledPredictor(spec.dim, {} as Record<string, JaxArray>, (_p, x: JaxArray, t: JaxArray) => {
    const m = x.shape[0];
    let tt = t.shape[0] === m ? t : np.broadcastTo(t, [m, 1]);
    if (spec.timeScale !== 1) tt = np.multiply(tt, spec.timeScale);
    if ((spec.timeOffset ?? 0) !== 0) tt = np.add(tt, spec.timeOffset ?? 0);
    if (spec.tRank === 1) tt = np.reshape(tt, [m]);
    const y = fn.run({ [spec.x]: x, [spec.t]: tt })[spec.output];
    if (y === undefined) throw new RangeError(`ONNX network has no output '${spec.output}'`);
    return y;
  }, 'ONNX network');
  return {
    dim: spec.dim,
    backend: 'jax',
    predict: (x, t) => inner.predict(x, t),
    dispose() {
      inner.dispose();
      fn.dispose();
    },
  };
}

/**
 * The graph `bytes` as a predictor (raw network output at `(x, t)`, `t` continuous in [0, 1]).
 * Throws the backend's own error for a graph it cannot load or run; `io/onnx-import.ts` turns
 * that into an InputError naming the file, op or shape.
 */
export async function onnxPredictor(bytes: Uint8Array, spec: OnnxNetworkSpec, opts: OnnxPredictorOptions = {}): Promise<OnnxPredictor> {
  const backend = opts.backend ?? 'auto';
  if (backend !== 'jax' && loadOnnxRuntime({ quiet: backend === 'onnxruntime' }) !== undefined) {
    const o: OrtSessionOptions = opts.threads !== undefined ? { threads: opts.threads } : {};
    return ortPredictor(createOrtSession(bytes, o), spec);
  }
  if (backend === 'onnxruntime') {
    throw new Error('onnxruntime-node is not installed; install it (ONNXRUNTIME_NODE_INSTALL=skip npm install) or use the jax backend');
  }
  return jaxPredictor(bytes, spec);
}

/** A predictor as a `ScoreModel` under `kind`, with `dispose()` and the backend used. */
export function onnxScoreModel(
  predictor: OnnxPredictor, kind: Parametrisation, schedule: NoiseSchedule,
): ScoreModel & { predictor: OnnxPredictor; backend: 'onnxruntime' | 'jax'; dispose(): void } {
  const model = scoreModelFrom(kind, predictor, schedule);
  return { dim: model.dim, score: model.score, predictor, backend: predictor.backend, dispose: () => predictor.dispose() };
}
