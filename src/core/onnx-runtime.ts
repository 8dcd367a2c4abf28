/**
 * The one door to `onnxruntime-node` (an OPTIONAL dependency, pinned exactly): a synchronous
 * float32 forward of an ONNX graph on the CPU. Nothing else imports the package.
 *
 * Why it is here (DESIGN, "Performance shape"): a forward pass of the 3 x 128 MLP at batch 10,000
 * takes 7.5-11 ms in onnxruntime against ~96 ms in jax-js, and the samplers are dominated by
 * such forwards. Where the package is absent (it is optional: a failed install only drops it)
 * `loadOnnxRuntime()` returns undefined and emits ONE process warning; callers fall back to
 * jax-js (`models/onnx-predictor.ts`).
 *
 * Why the native binding and not `InferenceSession.run`: the samplers call `ScoreModel.score`
 * synchronously, and onnxruntime-node's public `run()` is only an async wrapper that defers the
 * synchronous native `run` by one `setImmediate` (its dist/backend.js). We make the same native
 * calls the public API makes — `initOrt()`, `new binding.InferenceSession()`, `loadModel(buffer,
 * offset, length, options)`, `run(feeds, fetches, options)` — without the tick. These are
 * internals of onnxruntime-node 1.30.0; the version is pinned for that reason, and the test
 * suite runs this path whenever the package is installed.
 *
 * Install: `ONNXRUNTIME_NODE_INSTALL=skip npm install` (the CPU runtime is inside the npm
 * package; the skipped postinstall only downloads CUDA add-ons from outside the registry).
 */
import { createRequire } from 'node:module';

/** The tensor class of onnxruntime-common (`new Tensor('float32', data, dims)`). */
type OrtTensorClass = new (type: 'float32', data: Float32Array, dims: readonly number[]) => OrtTensor;
interface OrtTensor {
  readonly dims: readonly number[];
  readonly type: string;
  readonly data: unknown;
}

/** The raw metadata the binding reports for a graph input or output. */
interface RawValueMetadata {
  name: string;
  isTensor: boolean;
  /** ONNX element type (1 = float32). */
  type: number;
  /** -1 for a symbolic dimension. */
  shape: number[];
  symbolicDimensions: string[];
}

interface NativeSession {
  loadModel(buffer: ArrayBufferLike, byteOffset: number, byteLength: number, options: object): void;
  readonly inputMetadata: RawValueMetadata[];
  readonly outputMetadata: RawValueMetadata[];
  run(feeds: Record<string, OrtTensor>, fetches: Record<string, OrtTensor | null>, options: object): Record<string, OrtTensor | { data: unknown; dims: number[] }>;
  dispose(): void;
}

interface OrtModules {
  Tensor: OrtTensorClass;
  binding: { InferenceSession: new () => NativeSession };
  initOrt(): void;
  version: string;
}

/** A tensor input or output of a loaded graph: name, ONNX element type, dims (string = symbolic). */
export interface OrtValueInfo {
  name: string;
  elemType: number;
  dims: (number | string)[];
}

export interface OrtSessionOptions {
  /** Intra-op threads [2: the DESIGN's measured default on the 2-core machines]. */
  threads?: number;
  /**
   * Graph optimisation level ['all']. At 'all' onnxruntime fuses Sigmoid * x into a float32-only
   * SiLU kernel; our graphs are float32, so that is what we want.
   */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
}

/** A loaded ONNX graph: synchronous float32 forward. */
export interface OrtSession {
  readonly inputs: readonly OrtValueInfo[];
  readonly outputs: readonly OrtValueInfo[];
  /** Run with float32 feeds `{name: [data, dims]}`; returns the named float32 outputs. */
  run(feeds: Record<string, [Float32Array, readonly number[]]>, outputs: readonly string[]): Record<string, { data: Float32Array; dims: number[] }>;
  /**
   * `data` (not copied) as a tensor for `runBound`: a feed read in place, or an output buffer
   * the runtime writes into. The caller keeps `data` alive and sized as `dims` says.
   */
  bind(data: Float32Array, dims: readonly number[]): OrtBoundTensor;
  /**
   * Run with bound feeds and write each named output into its bound tensor (onnxruntime's
   * pre-allocated outputs: the `fetches` values of `run`), so that our side copies nothing either
   * way (the 1.30 binding still returns a copy of each output, which is dropped). For loops that
   * call one graph many times with the same buffers (the training step keeps its state in two
   * such sets and alternates between them).
   */
  runBound(feeds: Record<string, OrtBoundTensor>, outputs: Record<string, OrtBoundTensor>): void;
  dispose(): void;
}

/** A float32 buffer bound as an onnxruntime tensor (`OrtSession.bind`). */
export interface OrtBoundTensor {
  readonly data: Float32Array;
  readonly dims: readonly number[];
}

export const DEFAULT_ORT_THREADS = 2;

/** A float32 value no output of ours takes (`runBound`'s in-place check). */
const OUTPUT_SENTINEL = Math.fround(-3.0123457e38);

let cached: OrtModules | null | undefined;
let warned = false;

/** The reason the runtime could not be loaded (for messages), when it could not. */
let loadError: string | undefined;

/**
 * Set to 1 to act as if onnxruntime-node were absent (forces the jax-js path, e.g. to compare
 * the two or to work around a runtime problem; the test of the fallback uses it).
 */
export const DISABLE_ONNXRUNTIME_ENV = 'TWEEDIE_DISABLE_ONNXRUNTIME';

function tryLoad(): OrtModules | null {
  const require = createRequire(import.meta.url);
  if (process.env[DISABLE_ONNXRUNTIME_ENV] === '1') {
    loadError = `disabled by ${DISABLE_ONNXRUNTIME_ENV}=1`;
    return null;
  }
  try {
    const ort = require('onnxruntime-node') as { Tensor: OrtTensorClass; env: { versions: { node?: string } } };
    const native = require('onnxruntime-node/dist/binding.js') as { binding: OrtModules['binding']; initOrt(): void };
    if (typeof native.initOrt !== 'function' || typeof native.binding?.InferenceSession !== 'function') {
      throw new Error('onnxruntime-node has an unexpected layout (expected version 1.30.0, see package.json)');
    }
    return { Tensor: ort.Tensor, binding: native.binding, initOrt: native.initOrt, version: ort.env.versions.node ?? 'unknown' };
  } catch (e) {
    loadError = (e as Error).message.split('\n')[0];
    return null;
  }
}

/**
 * The runtime, or undefined when onnxruntime-node is not installed (then one process warning,
 * the first time, says so and how to install it). `quiet` skips the warning.
 */
export function loadOnnxRuntime(opts: { quiet?: boolean } = {}): OrtModules | undefined {
  if (cached === undefined) cached = tryLoad();
  if (cached === null) {
    if (!warned && !opts.quiet) {
      warned = true;
      process.emitWarning(
        `onnxruntime-node is not available (${loadError}); network forward passes run on jax-js instead (about 10x slower). ` +
          'To install it: ONNXRUNTIME_NODE_INSTALL=skip npm install',
        { code: 'TWEEDIE_NO_ONNXRUNTIME' },
      );
    }
    return undefined;
  }
  return cached;
}

/** Whether onnxruntime-node can be loaded (no warning). */
export function onnxRuntimeAvailable(): boolean {
  return loadOnnxRuntime({ quiet: true }) !== undefined;
}

/** Why onnxruntime-node could not be loaded, if it could not. */
export function onnxRuntimeLoadError(): string | undefined {
  loadOnnxRuntime({ quiet: true });
  return loadError;
}

function valueInfo(m: RawValueMetadata): OrtValueInfo {
  return { name: m.name, elemType: m.isTensor ? m.type : -1, dims: m.shape.map((d, i) => (d >= 0 ? d : (m.symbolicDimensions[i] || '?'))) };
}

/**
 * Load ONNX bytes into a CPU session. Throws onnxruntime's own error for a graph it cannot load
 * (a bad file, an op it lacks); callers turn that into an InputError naming the file.
 */
export function createOrtSession(bytes: Uint8Array, opts: OrtSessionOptions = {}): OrtSession {
  const ort = loadOnnxRuntime();
  if (ort === undefined) throw new Error(`onnxruntime-node is not installed (${loadError})`);
  const threads = opts.threads ?? DEFAULT_ORT_THREADS;
  if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`onnxruntime threads must be a positive integer, got ${threads}`);
  ort.initOrt();
  const session = new ort.binding.InferenceSession();
  // The options object is what InferenceSession.create hands the binding after resolving the
  // execution providers: the CPU provider only.
  session.loadModel(bytes.buffer, bytes.byteOffset, bytes.byteLength, {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: opts.optimization ?? 'all',
  });
  const inputs = session.inputMetadata.map(valueInfo);
  const outputs = session.outputMetadata.map(valueInfo);
  let open = true;
  const bound = new WeakMap<OrtBoundTensor, OrtTensor>();
  return {
    inputs,
    outputs,
    run(feeds, names) {
      if (!open) throw new Error('onnxruntime session used after dispose()');
      const f: Record<string, OrtTensor> = {};
      for (const [k, [data, dims]] of Object.entries(feeds)) f[k] = new ort.Tensor('float32', data, dims);
      const fetches: Record<string, null> = {};
      for (const n of names) fetches[n] = null;
      const r = session.run(f, fetches, {});
      const out: Record<string, { data: Float32Array; dims: number[] }> = {};
      for (const n of names) {
        const v = r[n];
        if (!(v?.data instanceof Float32Array)) throw new Error(`onnxruntime output '${n}' is not float32`);
        out[n] = { data: v.data, dims: [...v.dims] };
      }
      return out;
    },
    bind(data, dims) {
      const size = dims.reduce((a, b) => a * b, 1);
      if (data.length !== size) throw new RangeError(`bound tensor of shape [${dims.join(', ')}] needs ${size} values, got ${data.length}`);
      const b: OrtBoundTensor = { data, dims: [...dims] };
      bound.set(b, new ort.Tensor('float32', data, dims));
      return b;
    },
    runBound(feeds, outputs) {
      if (!open) throw new Error('onnxruntime session used after dispose()');
      const native = (b: OrtBoundTensor): OrtTensor => {
        const t = bound.get(b);
        if (t === undefined) throw new Error('runBound takes tensors made by this session\'s bind()');
        return t;
      };
      const f: Record<string, OrtTensor> = {};
      for (const [k, b] of Object.entries(feeds)) f[k] = native(b);
      const fetches: Record<string, OrtTensor> = {};
      for (const [k, b] of Object.entries(outputs)) fetches[k] = native(b);
      // onnxruntime writes a pre-allocated output in place, and the 1.30 binding then still hands
      // back a copy of it in a fresh array. A sentinel in each output's first entry tells whether
      // the buffer was written, so that only a build that did not write in place pays a second
      // copy (from the returned array): correct either way.
      for (const b of Object.values(outputs)) if (b.data.length > 0) b.data[0] = OUTPUT_SENTINEL;
      const r = session.run(f, fetches, {});
      for (const [k, b] of Object.entries(outputs)) {
        if (b.data.length === 0 || b.data[0] !== OUTPUT_SENTINEL) continue;
        const v = r[k]?.data;
        if (!(v instanceof Float32Array) || v.length !== b.data.length) throw new Error(`onnxruntime output '${k}' does not match its bound tensor`);
        b.data.set(v);
      }
    },
    dispose() {
      if (open) session.dispose();
      open = false;
    },
  };
}
