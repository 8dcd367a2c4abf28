/**
 * A user's ISSGM weight from a JavaScript module file (`tweedie issgm --weight ./my-weight.mjs`),
 * as a `LogWeight`. Two forms are accepted:
 *
 * 1. `logWeight(x, np)`: `log l` written with the engine's array ops; the gradient comes from
 *    autodiff (`valueAndGrad` of `core/engine.ts`). `x` is an `[n, dim]` array; return per-row
 *    values of shape `[n]` (reduce with `np.sum(..., -1)`):
 *
 *    ```js
 *    // my-weight.mjs: l(x) = |x|^2 + 1
 *    export function logWeight(x, np) {
 *      return np.log(np.add(np.sum(np.multiply(x, x), -1), 1));
 *    }
 *    ```
 *
 *    WHY `np` IS AN ARGUMENT: a plain `.mjs` file outside this package cannot `import ... from
 *    'tweedie'` (Node resolves bare specifiers from the importing file's folder, where tweedie is
 *    usually not installed), and the engine must be the very instance the sampler started (its
 *    arrays are tied to it). Passing the namespace makes the file self-contained: no imports.
 *    It is the non-consuming `np` of `core/engine.ts` (values may be reused freely); use the
 *    `np.*` functions, not array methods (`x.sum()` consumes `x`).
 *
 * 2. `value(x)` and `grad(x)`, plain JS (no engine): `x` is an array of `n` rows (`number[][]`);
 *    `value` returns `n` numbers `log l(x_i)`, `grad` returns `n` rows of `dim` numbers
 *    `grad log l(x_i)` (or one flat array of `n * dim`). Both synchronous.
 *
 * Optionally `export const dim = 2` to have the dimension checked against the model's.
 *
 * Values: `log l` must be a number or `-Infinity` (l = 0, floored at `m` by the sampler); NaN,
 * `+Infinity` and a non-finite gradient where `log l` is finite are errors naming the row (a
 * weight that is `<= 0` somewhere should return `-Infinity` there, e.g.
 * `np.log(np.maximum(l, 0))`). Every failure — file missing, import throwing, wrong exports,
 * function throwing, wrong shape, non-finite output — is an `InputError` with one message naming
 * the file.
 */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Batch } from '../core/batch.js';
import { initEngine, np, valueAndGrad, type EngineDType, type JaxArray } from '../core/engine.js';
import type { LogWeight, ValueAndGrad } from '../core/types.js';
import { InputError } from './errors.js';

export interface WeightModuleOptions {
  /** Dimension of the points (the model's). */
  dim: number;
  /** Engine precision for the `logWeight(x, np)` form [float32]. */
  dtype?: EngineDType;
}

export interface ModuleLogWeight extends LogWeight {
  /** The path as given. */
  readonly source: string;
  /** Which export form the module uses. */
  readonly form: 'logWeight' | 'value+grad';
}

type AnyFn = (...args: unknown[]) => unknown;

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function rowText(x: Batch, i: number): string {
  const r = Array.from(x.data.subarray(i * x.dim, (i + 1) * x.dim), (v) => Number(v.toPrecision(6)));
  return `[${r.join(', ')}]`;
}

/** Check per-row outputs: NaN/+Inf values and non-finite gradients of finite values are errors. */
/** A non-finite output: an InputError the load-time probe tolerates (it checks shapes only). */
class NonFiniteOutputError extends InputError {}

function checkOutputs(src: string, x: Batch, vg: ValueAndGrad): void {
  for (let i = 0; i < x.n; i++) {
    const v = vg.value[i];
    if (Number.isNaN(v) || v === Infinity) {
      throw new NonFiniteOutputError(
        `weight module ${src}: log l is ${v} at row ${i} (x = ${rowText(x, i)}); log l must be a number, or -Infinity where l = 0 ` +
          '(a weight that can be <= 0 should return -Infinity there, e.g. np.log(np.maximum(l, 0)); the sampler floors it at m)',
      );
    }
    if (v === -Infinity) continue; // l = 0: floored by the sampler, the gradient is not used
    for (let j = i * x.dim; j < (i + 1) * x.dim; j++) {
      if (!Number.isFinite(vg.grad.data[j])) {
        throw new NonFiniteOutputError(
          `weight module ${src}: the gradient of log l is not finite (${vg.grad.data[j]}) at row ${i}, ` +
            `coordinate ${j - i * x.dim} (x = ${rowText(x, i)}, log l = ${v})`,
        );
      }
    }
  }
}

function checkDim(src: string, x: Batch, dim: number): void {
  if (x.dim !== dim) throw new RangeError(`weight module ${src}: points have dimension ${x.dim}, the weight was loaded for dimension ${dim}`);
}

function toRows(x: Batch): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < x.n; i++) out.push(Array.from(x.data.subarray(i * x.dim, (i + 1) * x.dim)));
  return out;
}

function isArrayLike(v: unknown): v is ArrayLike<unknown> {
  return Array.isArray(v) || ArrayBuffer.isView(v);
}

function callUser(src: string, name: string, f: AnyFn, rows: number[][]): unknown {
  let r: unknown;
  try {
    r = f(rows);
  } catch (e) {
    throw new InputError(`weight module ${src}: ${name}(x) threw: ${message(e)}`, { cause: e });
  }
  if (r instanceof Promise || (typeof r === 'object' && r !== null && typeof (r as { then?: unknown }).then === 'function')) {
    throw new InputError(`weight module ${src}: ${name}(x) returned a Promise; it must be synchronous`);
  }
  return r;
}

function readValues(src: string, r: unknown, n: number): Float64Array {
  if (!isArrayLike(r) || r.length !== n) {
    const got = isArrayLike(r) ? `${r.length} values` : typeof r;
    throw new InputError(`weight module ${src}: value(x) must return ${n} numbers (one log l per row of x), got ${got}`);
  }
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = r[i];
    if (typeof v !== 'number') throw new InputError(`weight module ${src}: value(x) row ${i} is ${typeof v}, not a number`);
    out[i] = v;
  }
  return out;
}

function readGrad(src: string, r: unknown, n: number, dim: number): Float64Array {
  const out = new Float64Array(n * dim);
  const shapeError = (got: string): InputError =>
    new InputError(`weight module ${src}: grad(x) must return ${n} rows of ${dim} numbers (or ${n * dim} numbers), got ${got}`);
  if (!isArrayLike(r)) throw shapeError(typeof r);
  if (r.length === n && n > 0 && isArrayLike(r[0])) {
    for (let i = 0; i < n; i++) {
      const row = r[i];
      if (!isArrayLike(row) || row.length !== dim) throw shapeError(`row ${i} with ${isArrayLike(row) ? row.length : typeof row} values`);
      for (let j = 0; j < dim; j++) {
        const v = row[j];
        if (typeof v !== 'number') throw new InputError(`weight module ${src}: grad(x) row ${i}, coordinate ${j} is ${typeof v}, not a number`);
        out[i * dim + j] = v;
      }
    }
    return out;
  }
  if (r.length !== n * dim) throw shapeError(`${r.length} values`);
  for (let k = 0; k < n * dim; k++) {
    const v = r[k];
    if (typeof v !== 'number') throw new InputError(`weight module ${src}: grad(x) value ${k} is ${typeof v}, not a number`);
    out[k] = v;
  }
  return out;
}

/**
 * Load a weight module (see the module comment for the two forms) as a `LogWeight` of dimension
 * `dim`. The functions are tried once on `dim + 1` probe points at load time, so wrong exports and
 * wrong output shapes fail here rather than mid-sampling.
 */
export async function loadWeightModule(path: string, opts: WeightModuleOptions): Promise<ModuleLogWeight> {
  const src = path;
  const { dim } = opts;
  if (!Number.isInteger(dim) || dim < 1) throw new RangeError(`loadWeightModule: dimension must be a positive integer, got ${dim}`);
  const abs = resolve(path);
  if (!existsSync(abs) || !statSync(abs).isFile()) {
    throw new InputError(`weight module ${src} not found (looked for the file ${abs})`);
  }
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(abs).href)) as Record<string, unknown>;
  } catch (e) {
    throw new InputError(`weight module ${src} failed to load: ${message(e)}`, { cause: e });
  }
  if (mod.dim !== undefined && mod.dim !== dim) {
    throw new InputError(`weight module ${src} exports dim = ${String(mod.dim)}, but the model has dimension ${dim}`);
  }
  const hasLog = typeof mod.logWeight === 'function';
  const hasValue = typeof mod.value === 'function';
  const hasGrad = typeof mod.grad === 'function';
  const expected = 'export either logWeight(x, np) (log l with the engine ops, gradient by autodiff) or both value(x) and grad(x)';
  if (hasLog && (hasValue || hasGrad)) throw new InputError(`weight module ${src} exports logWeight and value/grad: ${expected}, not both`);
  if (!hasLog && hasValue !== hasGrad) {
    throw new InputError(`weight module ${src} exports ${hasValue ? 'value but no grad' : 'grad but no value'}: ${expected}`);
  }
  if (!hasLog && !hasValue) {
    const names = Object.keys(mod).filter((k) => k !== 'default');
    const found = names.length ? `it exports ${names.map((k) => `${k} (${typeof mod[k]})`).join(', ')}` : 'it exports nothing';
    throw new InputError(`weight module ${src}: ${expected}; ${found}`);
  }

  let weight: ModuleLogWeight;
  if (hasLog) {
    await initEngine();
    const user = mod.logWeight as AnyFn;
    const f = valueAndGrad((x) => user(x, np) as JaxArray, {
      dim, dtype: opts.dtype ?? 'float32', name: `logWeight in ${src}`,
    });
    const evaluate = (x: Batch): ValueAndGrad => {
      checkDim(src, x, dim);
      let r: ValueAndGrad;
      try {
        r = f(x);
      } catch (e) {
        throw new InputError(`weight module ${src}: logWeight(x, np) failed: ${message(e)}`, { cause: e });
      }
      checkOutputs(src, x, r);
      return r;
    };
    weight = { dim, source: src, form: 'logWeight', value: (x) => evaluate(x).value, valueAndGrad: evaluate };
  } else {
    const value = mod.value as AnyFn;
    const grad = mod.grad as AnyFn;
    const values = (x: Batch, rows: number[][]): Float64Array => readValues(src, callUser(src, 'value', value, rows), x.n);
    weight = {
      dim,
      source: src,
      form: 'value+grad',
      value: (x) => {
        checkDim(src, x, dim);
        const v = values(x, toRows(x));
        checkOutputs(src, x, { value: v, grad: { n: x.n, dim, data: new Float64Array(x.n * dim) } });
        return v;
      },
      valueAndGrad: (x) => {
        checkDim(src, x, dim);
        const rows = toRows(x);
        const v = values(x, rows);
        const g = readGrad(src, callUser(src, 'grad', grad, rows), x.n, dim);
        const r = { value: v, grad: { n: x.n, dim, data: g } };
        checkOutputs(src, x, r);
        return r;
      },
    };
  }

  // Probe: dim + 1 points (a row count unlike the dimension, so reducing the wrong axis shows),
  // shapes only (a weight may legitimately be non-finite at a probe point).
  const pn = dim + 1;
  const probe: Batch = { n: pn, dim, data: Float64Array.from({ length: pn * dim }, (_, k) => 0.5 * Math.sin(1.3 * k + 0.4)) };
  try {
    weight.valueAndGrad(probe);
  } catch (e) {
    if (e instanceof NonFiniteOutputError) return weight;
    throw e;
  }
  return weight;
}
