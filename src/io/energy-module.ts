/**
 * A user's unnormalised target density from a JavaScript module file
 * (`tweedie amortized train --target ./my-energy.mjs`), as a `Target`:
 *
 * ```js
 * // ring.mjs: a ring of radius 3 in 2-D, log p(x) = -(|x| - 3)^2 / (2 * 0.5^2) + const
 * export const dim = 2;
 * export function logDensity(x, np) {
 *   const r = np.sqrt(np.add(np.sum(np.square(x), -1), 1e-12));
 *   return np.multiply(np.square(np.subtract(r, 3)), -2);
 * }
 * ```
 *
 * `logDensity(x, np)` takes an `[n, dim]` engine array and the engine's non-consuming `np` (why an
 * argument: see `weight-module.ts`) and returns `[n]` values `log p(x_i)` up to a constant; its
 * gradient comes from autodiff. `dim` must be exported (there is no model to take it from).
 *
 * A module that is missing, throws on import, lacks the exports, throws when called or returns the
 * wrong shape fails at load time (probe on `dim + 1` points) with one `InputError` naming the file.
 * NaN or infinite values at run time are NOT errors here: MCMC rejects such proposals and counts
 * them (a density can legitimately be 0, i.e. -Infinity, outside its support).
 */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { makeBatch, type Batch } from '../core/batch.js';
import { initEngine, np, valueAndGrad, type EngineDType, type JaxArray } from '../core/engine.js';
import type { Target, ValueAndGrad } from '../core/types.js';
import { InputError } from './errors.js';

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Load an energy module (see the module comment) as a `Target` named by its path. */
export async function loadEnergyModule(path: string, opts: { dtype?: EngineDType } = {}): Promise<Target> {
  const abs = resolve(path);
  if (!existsSync(abs) || !statSync(abs).isFile()) throw new InputError(`energy module ${path} not found (looked for the file ${abs})`);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(abs).href)) as Record<string, unknown>;
  } catch (e) {
    throw new InputError(`energy module ${path} failed to load: ${message(e)}`, { cause: e });
  }
  if (typeof mod.logDensity !== 'function') {
    const names = Object.keys(mod).filter((k) => k !== 'default');
    throw new InputError(`energy module ${path} must export logDensity(x, np) (log p up to a constant, written with the np ops); it exports ${names.length ? names.join(', ') : 'nothing'}`);
  }
  const dim = mod.dim;
  if (typeof dim !== 'number' || !Number.isInteger(dim) || dim < 1) {
    throw new InputError(`energy module ${path} must export its dimension, e.g. 'export const dim = 2' (got ${String(dim)})`);
  }
  await initEngine();
  const user = mod.logDensity as (x: JaxArray, n: typeof np) => JaxArray;
  const f = valueAndGrad((x) => user(x, np), { dim, dtype: opts.dtype ?? 'float32', name: `logDensity in ${path}` });
  const evaluate = (x: Batch): ValueAndGrad => {
    if (x.dim !== dim) throw new RangeError(`energy module ${path}: points have dimension ${x.dim}, the module declares dim = ${dim}`);
    try {
      return f(x);
    } catch (e) {
      throw new InputError(`energy module ${path}: logDensity(x, np) failed: ${message(e)}`, { cause: e });
    }
  };
  // Probe now, so that wrong shapes fail before a long run starts.
  const probe = makeBatch(dim + 1, dim);
  for (let i = 0; i < probe.data.length; i++) probe.data[i] = ((i * 7) % 5) / 5 - 0.4;
  evaluate(probe);
  return { name: path, dim, logDensity: (x) => evaluate(x).value, logDensityAndGrad: evaluate };
}
