/**
 * Pieces shared by the score networks (`mlp.ts`, `egnn.ts`): the numerically safe SiLU and the
 * PyTorch-to-engine weight layout. A leaf module, so that the networks can use it without
 * importing each other (`mlp.ts` dispatches to `egnn.ts` for `networkScoreModel`, and a reverse
 * import for the activation would make a cycle). `mlp.ts` re-exports both names.
 */
import { arrayF32, np, readF32, type JaxArray } from '../core/engine.js';
import { checkTensors, type Tensors } from './tensors.js';

/**
 * SiLU `z sigmoid(z)` (Hendrycks & Gimpel 2016; Ramachandran et al. 2017) whose gradient stays
 * finite for any `z`. jax-js's `nn.silu` is `z / (1 + exp(-z))`: for `z < -88` float32 `exp(-z)`
 * overflows, and its backward pass takes `0 * Infinity = NaN` — seen as hundreds of skipped NaN
 * steps when training 2spirals at lr 3e-3. Clipping the argument of `exp` at +-60 changes no
 * float32 value (sigmoid is already 0 or 1 to float32 precision there, so silu is 0 or z) and
 * gives a zero, not NaN, derivative beyond. Non-consuming (engine `np`), for traced functions.
 */
const SILU_CLIP = 60;
export function silu(z: JaxArray): JaxArray {
  const c = np.clip(z, -SILU_CLIP, SILU_CLIP);
  return np.multiply(z, np.reciprocal(np.add(np.exp(np.negative(c)), 1)));
}

/** `[rows, cols]` row-major -> `[cols, rows]` row-major (PyTorch `[out, in]` <-> engine `[in, out]`). */
export function transposeData(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = data[i * cols + j];
  return out;
}

/**
 * The name under which a network's time-embedding frequencies `[1, embDim/2]` (fixed, not
 * trained, never stored in checkpoints) sit among its engine weights.
 */
export const TIME_FREQS = 'time_embedding.freqs';

/** Parameters as engine arrays, by tensor name, in engine layout (see `toEngineWeights`). */
export type EngineWeights = Record<string, JaxArray>;

/** A parameter tensor's name and PyTorch-layout shape. */
export interface TensorSpec {
  name: string;
  shape: number[];
}

/**
 * Tensors (PyTorch layout) -> engine arrays by name: a 2-D weight `[out, in]` becomes `[in, out]`
 * so that a layer is the plain `h @ W + b`; other tensors keep their shape. Checks names and
 * shapes against `specs`. Needs a started engine.
 */
export function toEngineWeights(specs: TensorSpec[], t: Tensors, what: string): EngineWeights {
  checkTensors(t, specs, what);
  const out: EngineWeights = {};
  for (const s of specs) {
    const d = t[s.name].data;
    out[s.name] = s.shape.length === 2 ? arrayF32(transposeData(d, s.shape[0], s.shape[1]), [s.shape[1], s.shape[0]]) : arrayF32(d, s.shape);
  }
  return out;
}

/** The inverse of `toEngineWeights` for the tensors of `specs`. CONSUMES those arrays of `p`. */
export function fromEngineWeights(specs: TensorSpec[], p: EngineWeights): Tensors {
  const out: Tensors = {};
  for (const s of specs) {
    const d = readF32(p[s.name]);
    out[s.name] = { shape: [...s.shape], data: s.shape.length === 2 ? transposeData(d, s.shape[1], s.shape[0]) : d };
  }
  return out;
}
