/**
 * The one narrow door to the autodiff engine (`@jax-js/jax`, pinned exactly). Nothing else in the
 * project imports `@jax-js/jax`; swapping the engine means rewriting this file only.
 *
 * What it offers: per-row values and gradients of a user function written with `np` ops,
 * mapping an `[n, dim]` array to per-row values `[n]`:
 *
 * ```ts
 * import { initEngine, np, valueAndGrad } from './engine.js';
 * await initEngine();
 * const a = np.array([0.5, -1]);
 * const logL = valueAndGrad((x) => np.log(np.add(np.exp(np.sum(np.multiply(x, a), -1)), 1)));
 * const { value, grad } = logL(batch); // Float64Array [n], Batch n x dim
 * ```
 *
 * THE CONSUME TRAP, and how it is hidden. jax-js frees arrays by reference counting with "move"
 * semantics: every op consumes (decrements) its array arguments, so `np.add(x, x)` or using `x`
 * in two ops throws `UseAfterFreeError` unless all but the last use are written `x.ref`. This
 * adapter hides that in two ways:
 *  1. The `np` exported here is the jax-js `numpy` namespace wrapped so that every function takes
 *     a fresh `.ref` of each array argument before calling the real op: user code never consumes
 *     a value and may reuse `x`, intermediates and captured constants freely.
 *  2. That wrapper would leak real memory in eager mode (the extra references are never given
 *     back), so user functions are only ever run under `jit`: there they see symbolic tracers
 *     whose reference counts are plain counters, and the compiled program owns its own buffers.
 *     Captured constant arrays are referenced, not consumed, and stay owned by the user.
 * The remaining trap: METHODS on arrays (`x.mul(y)`, `x.sum()`) are the raw jax-js ones and do
 * consume `x` and `y`. Use the `np.*` functions (`np.multiply(x, y)`, `np.sum(x, -1)`) inside
 * functions given to this module.
 *
 * Other facts measured on Node 20 (see DESIGN.md, "Engine notes"): `init()` without arguments
 * throws `navigator is not defined`, so `init('wasm')` is called explicitly; jax-js tests
 * `data instanceof Float16Array`, a global Node 20 lacks, so a stand-in that cannot be
 * constructed is installed first. Float32 is the fast default; float64 is available.
 *
 * PRECISION CAVEAT (read from jax-js 0.1.25's wasm code generator and measured): in float64 mode,
 * + - * / and sqrt are true float64, but sin, cos, asin, atan, exp, log, erf and erfc are
 * evaluated in float32 (demote, call, promote), so any function using them is accurate only to
 * ~1e-7..1e-5 relative (the approximations are not correctly rounded), even with
 * `dtype: 'float64'`. Finite differences of such values at step 1e-6 are noise.
 */
import type { Array as JaxArray } from '@jax-js/jax';
import type { Batch } from './batch.js';
import type { ValueAndGrad } from './types.js';

type JaxModule = typeof import('@jax-js/jax');
type NumpyNamespace = JaxModule['numpy'];

export type { JaxArray };
/** Floating type the engine computes in; results always come back as float64. */
export type EngineDType = 'float32' | 'float64';

/** A function from an `[n, dim]` array to per-row values `[n]`, written with `np` ops. */
export type RowFunction = (x: JaxArray) => JaxArray;

export interface RowFunctionOptions {
  /**
   * Engine precision [float32]. Float64 makes arithmetic and sqrt exact to ~1e-16, but
   * transcendental functions stay float32-accurate (see the module comment).
   */
  readonly dtype?: EngineDType;
  /** When given, inputs of another dimension are rejected with a clear error. */
  readonly dim?: number;
  /** Names the function in error messages [`function`]. */
  readonly name?: string;
}

let jax: JaxModule | undefined;
let initPromise: Promise<void> | undefined;

function installFloat16StandIn(): void {
  const g = globalThis as { Float16Array?: unknown };
  if (typeof g.Float16Array === 'undefined') {
    // jax-js only uses it for `instanceof` checks and for float16 arrays, which we never make.
    g.Float16Array = class Float16ArrayUnavailable {
      constructor() {
        throw new Error('Float16Array is not available in this Node version (tweedie engine stand-in)');
      }
    };
  }
}

/** Load and start the engine (wasm backend). Idempotent; await it once before any other call. */
export function initEngine(): Promise<void> {
  initPromise ??= (async () => {
    installFloat16StandIn();
    const mod = await import('@jax-js/jax');
    const devices = await mod.init('wasm');
    if (!devices.includes('wasm')) throw new Error(`jax-js did not start its wasm backend (got ${devices.join(', ')})`);
    mod.defaultDevice('wasm');
    jax = mod;
  })().catch((e: unknown) => {
    initPromise = undefined;
    throw e;
  });
  return initPromise;
}

/** Whether `initEngine()` has completed. */
export function engineReady(): boolean {
  return jax !== undefined;
}

function engine(): JaxModule {
  if (jax === undefined) throw new Error('the autodiff engine is not started: `await initEngine()` first');
  return jax;
}

function isJaxValue(a: unknown): a is JaxArray {
  return typeof a === 'object' && a !== null && '_trace' in a && 'dispose' in a;
}

/** A fresh reference to every array inside `a` (plain JS arrays are walked, for stack/concat). */
function refArgs(a: unknown): unknown {
  if (isJaxValue(a)) return a.ref;
  if (Array.isArray(a)) return a.map(refArgs);
  return a;
}

/**
 * The jax-js `numpy` namespace, made non-consuming (see the module comment): array arguments
 * are referenced, never consumed. Use it inside functions given to `valueAndGrad` and for
 * constants (`np.array([...])`). Available after `await initEngine()`.
 */
export const np: NumpyNamespace = new Proxy({} as NumpyNamespace, {
  get(_target, key) {
    const real = engine().numpy as unknown as Record<string | symbol, unknown>;
    const v = real[key];
    if (typeof v !== 'function') return v;
    return (...args: unknown[]) => (v as (...a: unknown[]) => unknown)(...args.map(refArgs));
  },
  has(_target, key) {
    return key in engine().numpy;
  },
});

function checkBatch(x: Batch, opts: RowFunctionOptions, name: string): void {
  if (!Number.isInteger(x.n) || x.n < 0 || !Number.isInteger(x.dim) || x.dim < 1) {
    throw new RangeError(`${name}: input must be a batch with n >= 0 rows and dim >= 1, got n=${x.n}, dim=${x.dim}`);
  }
  if (x.data.length !== x.n * x.dim) {
    throw new RangeError(`${name}: batch data has ${x.data.length} values but n*dim = ${x.n}*${x.dim} = ${x.n * x.dim}`);
  }
  if (opts.dim !== undefined && x.dim !== opts.dim) {
    throw new RangeError(`${name}: expects points of dimension ${opts.dim}, got a batch of dimension ${x.dim}`);
  }
}

function checkOutput(r: JaxArray, n: number, dim: number, name: string): void {
  const ok = r.shape.length === 1 && r.shape[0] === n;
  if (!ok) {
    throw new RangeError(
      `${name} must map an [n, dim] = [${n}, ${dim}] array to per-row values of shape [${n}], ` +
        `but returned shape [${r.shape.join(', ')}] (reduce over the last axis, e.g. np.sum(..., -1))`,
    );
  }
}

function toEngine(x: Batch, dtype: EngineDType): JaxArray {
  const { numpy } = engine();
  const buf = dtype === 'float32' ? Float32Array.from(x.data) : x.data.slice();
  return numpy.array(buf, { dtype: dtype === 'float32' ? numpy.float32 : numpy.float64 }).reshape([x.n, x.dim]);
}

function toFloat64(a: JaxArray): Float64Array {
  const d = a.dataSync(); // consumes `a`
  return d instanceof Float64Array ? d : Float64Array.from(d as ArrayLike<number>);
}

/**
 * Per-row values and gradients of `f`: returns `x => {value, grad}` with `value[i] = f(x)[i]` and
 * `grad = grad_x sum_i f(x)[i]`, which is row i's own gradient because rows are independent
 * (`f` must not mix rows). Synchronous; compiled (`jit`) once per input shape.
 */
export function valueAndGrad(f: RowFunction, opts: RowFunctionOptions = {}): (x: Batch) => ValueAndGrad {
  const dtype = opts.dtype ?? 'float32';
  const name = opts.name ?? 'function';
  let compiled: ((x: JaxArray) => [[JaxArray, JaxArray], JaxArray]) | undefined;
  return (x: Batch): ValueAndGrad => {
    checkBatch(x, opts, name);
    if (x.n === 0) return { value: new Float64Array(0), grad: { n: 0, dim: x.dim, data: new Float64Array(0) } };
    const j = engine();
    if (compiled === undefined) {
      const inner = (xt: JaxArray): [JaxArray, JaxArray] => {
        const r = f(xt);
        if (!isJaxValue(r)) throw new TypeError(`${name} must return a jax array built with np ops, got ${typeof r}`);
        checkOutput(r, xt.shape[0], xt.shape[1], name);
        return [np.sum(r), r];
      };
      compiled = j.jit(j.valueAndGrad(inner, { hasAux: true })) as unknown as typeof compiled;
    }
    const [[total, rows], g] = compiled!(toEngine(x, dtype));
    total.dispose();
    return { value: toFloat64(rows), grad: { n: x.n, dim: x.dim, data: toFloat64(g) } };
  };
}

/** Per-row values of `f` only (no gradient): `x => f(x)` as a Float64Array of length n. */
export function rowValues(f: RowFunction, opts: RowFunctionOptions = {}): (x: Batch) => Float64Array {
  const dtype = opts.dtype ?? 'float32';
  const name = opts.name ?? 'function';
  let compiled: ((x: JaxArray) => JaxArray) | undefined;
  return (x: Batch): Float64Array => {
    checkBatch(x, opts, name);
    if (x.n === 0) return new Float64Array(0);
    const j = engine();
    if (compiled === undefined) {
      const inner = (xt: JaxArray): JaxArray => {
        const r = f(xt);
        if (!isJaxValue(r)) throw new TypeError(`${name} must return a jax array built with np ops, got ${typeof r}`);
        checkOutput(r, xt.shape[0], xt.shape[1], name);
        // Return a fresh value the caller owns (the wrapper never consumed `r`).
        return np.add(r, 0);
      };
      compiled = j.jit(inner) as unknown as typeof compiled;
    }
    return toFloat64(compiled!(toEngine(x, dtype)));
  };
}

// ---------------------------------------------------------------------------------------------
// Whole-program primitives for networks and training (`src/models/`).
//
// A training step is one `jit`-compiled function over a pytree of parameters and optimiser state
// (the Adam moments, the EMA), so that forward, backward, clipping, Adam and EMA run as one
// compiled program with fused kernels and no per-op dispatch from JS. The state stays as engine
// arrays between steps; it is read back to Float32Arrays only for checkpoints.
//
// Ownership at this boundary (the consume trap, see the module comment): a function returned by
// `jitTree` CONSUMES every array passed to it, exactly like jax-js' own `jit`; callers hand over
// state they will replace with the outputs, and pass `refTree(x)` for anything they keep.
// Inside the traced function use the non-consuming `np`/`nn` exported here.
// ---------------------------------------------------------------------------------------------

/** A pytree of engine arrays: nested plain objects and arrays with arrays at the leaves. */
export type ArrayTree = JaxArray | readonly ArrayTree[] | { readonly [k: string]: ArrayTree };

/**
 * `nn` (activations such as `silu`, `sigmoid`), non-consuming like `np`. For use inside functions
 * traced by `jitTree`/`valueAndGradTree`.
 */
export const nn: JaxModule['nn'] = new Proxy({} as JaxModule['nn'], {
  get(_target, key) {
    const real = engine().nn as unknown as Record<string | symbol, unknown>;
    const v = real[key];
    if (typeof v !== 'function') return v;
    return (...args: unknown[]) => (v as (...a: unknown[]) => unknown)(...args.map(refArgs));
  },
});

/**
 * `jit` of jax-js: compile `f` once per input shapes; the result consumes its array arguments
 * (pass `refTree(x)` to keep `x`). `f` must be written with the non-consuming `np`/`nn` of this
 * module. Returns an owned function: call `.dispose()` when it is no longer used.
 */
export function jitTree<A extends unknown[], R>(f: (...args: A) => R): ((...args: A) => R) & { dispose(): void } {
  const j = engine();
  return j.jit(f as never) as unknown as ((...args: A) => R) & { dispose(): void };
}

/**
 * `valueAndGrad` of jax-js with respect to the first argument (a pytree):
 * `f(params, ...rest) -> scalar` becomes `(params, ...rest) -> [scalar, gradTree]`.
 * Meant to be called inside a `jitTree` function (where arguments are tracers); it consumes its
 * arguments like every jax-js transformation, so pass `refTree(x)` for values used again.
 */
export function valueAndGradTree<A extends unknown[]>(f: (...args: A) => JaxArray): (...args: A) => [JaxArray, A[0]] {
  const j = engine();
  return j.valueAndGrad(f as never) as unknown as (...args: A) => [JaxArray, A[0]];
}

/** A float32 engine array of `shape` holding a copy of `data` (row-major). */
export function arrayF32(data: Float32Array, shape: readonly number[]): JaxArray {
  const { numpy } = engine();
  const size = shape.reduce((a, b) => a * b, 1);
  if (size !== data.length) throw new RangeError(`arrayF32: ${data.length} values for shape [${shape.join(', ')}]`);
  return numpy.array(data.slice(), { dtype: numpy.float32 }).reshape([...shape]);
}

/** Read an engine array back as float32 (the array is CONSUMED: pass `x.ref` to keep it). */
export function readF32(a: JaxArray): Float32Array {
  const d = a.dataSync();
  return d instanceof Float32Array ? d : Float32Array.from(d as ArrayLike<number>);
}

/** A new reference to every array in a tree (to pass it to a consuming function and keep it). */
export function refTree<T>(t: T): T {
  return engine().tree.ref(t as never) as T;
}

/** Give back every array in a tree (the tree must not be used afterwards). */
export function disposeTree(t: unknown): void {
  engine().tree.dispose(t as never);
}

let kernelInstanceCacheInstalled = false;

/**
 * Make jax-js' synchronous wasm dispatch reuse one `WebAssembly.Instance` per compiled kernel.
 *
 * Why: jax-js 0.1.25's `WasmBackend.dispatch` runs `new WebAssembly.Instance(module, {env:
 * {memory}})` on EVERY kernel launch; profiling a training step at batch 64 put 16% of the time
 * in `Instance` alone. Its own worker path already caches instances per kernel (the kernels are
 * stateless: they import only the memory and export only `kernel`), so reusing them is what the
 * library does elsewhere. This wraps the global `WebAssembly.Instance` constructor so that, for a
 * module whose only import is `env.memory` and whose only export is the function `kernel` (jax-js'
 * kernel shape), the instance for the same module and the same memory is created once and
 * reused. Every other module is instantiated as before. Idempotent.
 */
export function enableKernelInstanceCache(): void {
  if (kernelInstanceCacheInstalled) return;
  kernelInstanceCacheInstalled = true;
  // The ES2022 lib without DOM has no WebAssembly typings: the little used here, typed locally.
  type WasmModule = object;
  type Desc = { module?: string; name: string; kind: string };
  const W = (globalThis as unknown as {
    WebAssembly: {
      Instance: new (...a: unknown[]) => object;
      Module: (new (...a: unknown[]) => WasmModule) & { imports(m: WasmModule): Desc[]; exports(m: WasmModule): Desc[] };
    };
  }).WebAssembly;
  const Real = W.Instance;
  const eligible = new WeakMap<WasmModule, boolean>();
  const cache = new WeakMap<WasmModule, { memory: unknown; instance: object }>();
  const isKernelModule = (m: WasmModule): boolean => {
    let e = eligible.get(m);
    if (e === undefined) {
      const imps = W.Module.imports(m);
      const exps = W.Module.exports(m);
      e = imps.length === 1 && imps[0].module === 'env' && imps[0].name === 'memory' && imps[0].kind === 'memory' &&
        exps.length === 1 && exps[0].name === 'kernel' && exps[0].kind === 'function';
      eligible.set(m, e);
    }
    return e;
  };
  W.Instance = new Proxy(Real, {
    construct(target, args: unknown[], newTarget) {
      const [m, imports] = args as [WasmModule, { env?: { memory?: unknown } } | undefined];
      const memory = imports?.env?.memory;
      if (m instanceof W.Module && memory !== undefined && isKernelModule(m)) {
        const hit = cache.get(m);
        if (hit !== undefined && hit.memory === memory) return hit.instance;
        const instance = Reflect.construct(target, args, newTarget) as object;
        cache.set(m, { memory, instance });
        return instance;
      }
      return Reflect.construct(target, args, newTarget) as object;
    },
  });
}

// ---------------------------------------------------------------------------------------------
// ONNX graphs on the engine (`@jax-js/onnx`, by the jax-js author; it imports the same
// `@jax-js/jax` instance, deduplicated by npm). The pure-JS path for imported networks when
// onnxruntime-node is absent, and the differentiable one: the graph becomes ordinary jax-js ops.
// ---------------------------------------------------------------------------------------------

/** An ONNX graph as an engine function. */
export interface OnnxEngineFunction {
  /**
   * The graph on named engine arrays, for use inside `jitTree`/`valueAndGradTree` functions:
   * non-consuming like `np` (a fresh reference of each input is handed to the graph). Returns
   * every graph output by name. Throws the loader's error for an op it lacks
   * (`Unsupported ONNX operation: NAME`).
   */
  run(inputs: Record<string, JaxArray>): Record<string, JaxArray>;
  /** Give back the graph's weights. */
  dispose(): void;
}

/**
 * Parse ONNX bytes into an engine function (weights become engine arrays now). The engine must
 * be started. Throws the loader's error for a file it cannot read.
 */
export async function onnxEngineFunction(bytes: Uint8Array): Promise<OnnxEngineFunction> {
  engine();
  const { ONNXModel } = await import('@jax-js/onnx');
  // The loader types its argument Uint8Array<ArrayBuffer>: copy into a plain ArrayBuffer view.
  const model = new ONNXModel(new Uint8Array(bytes));
  return {
    run: (inputs) => {
      const refd: Record<string, JaxArray> = {};
      for (const [k, v] of Object.entries(inputs)) refd[k] = v.ref;
      return model.run(refd) as Record<string, JaxArray>;
    },
    dispose: () => model.dispose(),
  };
}
