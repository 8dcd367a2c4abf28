/**
 * An ONNX network as ISSGM's weight `l(x)` (`tweedie issgm --weight FILE.onnx:MODE`), as a
 * `LogWeight` whose value AND gradient come from the graph itself: the graph is run as jax-js ops
 * (`@jax-js/onnx`, `core/engine.ts` `onnxEngineFunction`) inside the engine's `valueAndGrad`, so
 * `grad_x log l` is reverse-mode autodiff through the network (the paper's neural weights, Sec.
 * 4.2-4.3, without hand-written gradients and without onnxruntime, which has no gradients).
 *
 * MODES (the part after the last `:`; keep the set small):
 *  - `class=K`: a classifier, one input `[n, dim]`, output `[n, C]` of LOGITS;
 *    `log l = log_softmax(logits)[K]` (log of the class-K probability; `0 <= K < C`). A graph
 *    whose output already is `LogSoftmax` gives the same (log_softmax is idempotent on
 *    log-probabilities). A graph ending in `Softmax` (probabilities) is detected and its last node
 *    is rewritten to `LogSoftmax` before loading: `log(softmax(z))` underflows to `-Infinity`
 *    (gradient NaN) once a class probability is below float32's ~1e-45, where `LogSoftmax` stays
 *    finite with the right gradient (the fixture has such a row: log p = -160). A graph ending in
 *    `Sigmoid` (independent per-class probabilities) is refused: log_softmax of it would be wrong.
 *  - `recon`: an autoencoder, output `[n, dim]`; `l = |AE(x) - x|^2` (sum of squares over the
 *    row), `log l = log(l)`; the gradient includes the path through `AE(x)`. `l = 0` gives
 *    `log l = -Infinity`, floored at `m` by the sampler like every weight.
 *  - `log` (or no mode): the output `[n]` or `[n, 1]` IS `log l` (a density-ratio network).
 *  A key `output=NAME` picks the graph output when there are several: `FILE.onnx:class=3,output=logits`.
 *
 * UNITS. ISSGM evaluates `l` at Tweedie's `x0h` in the MODEL's units, the space the score network
 * works in (for a digits model: pixels / 8 - 1 in [-1, 1]; the sidecar's or checkpoint's
 * `normalisation` maps them to data units, and `issgm` writes its samples in model units too).
 * Built-in weights and `.mjs` weight modules see the same `x`, and so does an ONNX weight: a
 * classifier trained on raw pixels must have the conversion folded into its graph (e.g. a first
 * `x * 8 + 8` in the PyTorch module before export).
 *
 * PRECISION AND BATCHES. Float32 inside (the graph's weights are float32), float64 out; rows run
 * in chunks of `CHUNK` padded to a few bucket sizes (`models/predictor.ts` `bucketSize`), so a
 * sampler calling with any `n` compiles a handful of programs. Padding rows are zeros; they and
 * their gradients are dropped (rows are independent in a per-example network, which is required).
 *
 * BAD INPUT: one InputError naming the file and the problem: not an ONNX model; not exactly one
 * float32 input `[n, dim]` with a dynamic batch axis (the shape found and the shape needed); an
 * output of the wrong shape for the mode; a class out of range; an op the engine lacks (the op
 * named, with the fix). The weight is tried once at load time on a few rows, so these surface
 * before sampling starts. Non-finite outputs (NaN, `+Infinity`) are returned as they are: the
 * sampler and the ground truth floor them at `m` and count them (`weights.ts` `applyFloor`), as
 * for the built-in weights.
 */
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, type ModelProto } from 'onnx-buf';
import type { Batch } from '../core/batch.js';
import { initEngine, nn, np, onnxEngineFunction, rowValues, valueAndGrad, type JaxArray, type OnnxEngineFunction } from '../core/engine.js';
import type { LogWeight, ValueAndGrad } from '../core/types.js';
import { bucketSize } from '../models/predictor.js';
import { InputError, readInputBytes } from './errors.js';
import { opInMessage, readOnnxGraph, type OnnxGraphInfo, type OnnxValue } from './onnx-import.js';

/** What the network's output means (see the module comment). */
export type OnnxWeightMode = { readonly kind: 'class'; readonly index: number } | { readonly kind: 'recon' } | { readonly kind: 'log' };

export interface OnnxWeightSpec {
  /** The `.onnx` file. */
  readonly path: string;
  readonly mode: OnnxWeightMode;
  /** Graph output to read; the only one when absent. */
  readonly output?: string;
}

export interface OnnxLogWeight extends LogWeight {
  /** The spec as given. */
  readonly source: string;
  readonly mode: OnnxWeightMode;
  /** The graph input fed with x, and the output read. */
  readonly input: string;
  readonly output: string;
  /** True when a final Softmax was rewritten to LogSoftmax (class mode). */
  readonly softmaxRewritten: boolean;
  /** One line saying what `l` is. */
  readonly description: string;
  /** Give back the graph's weights (engine memory). */
  dispose(): void;
}

export interface OnnxWeightOptions {
  /** Dimension of the points (the model's). */
  dim: number;
  /** Rows per compiled call [1024]. */
  chunk?: number;
}

/** Rows per compiled call: the bucket limit of `models/predictor.ts`, same reasoning (jax-js matmul beyond ~1000 rows). */
const CHUNK = 1024;

const MODES_HELP = 'FILE.onnx:class=K (classifier logits [n, C]: l = softmax probability of class K), FILE.onnx:recon (autoencoder [n, dim]: l = |AE(x) - x|^2) or FILE.onnx:log (output [n] or [n, 1] is log l)';

/** Whether a `--weight` value names an ONNX file (`FILE.onnx` or `FILE.onnx:...`). */
export function isOnnxWeightSpec(spec: string): boolean {
  return /\.onnx(:|$)/i.test(spec.trim());
}

/** Parse `FILE.onnx[:MODE[,output=NAME]]`; an InputError listing the forms when it is not one. */
export function parseOnnxWeightSpec(spec: string): OnnxWeightSpec {
  const m = /^(.*\.onnx)(?::(.*))?$/is.exec(spec.trim());
  if (!m) throw new InputError(`weight '${spec}' is not an ONNX weight; give ${MODES_HELP}`);
  const path = m[1];
  let mode: OnnxWeightMode | undefined;
  let output: string | undefined;
  const parts = (m[2] ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const part of parts) {
    const eq = part.indexOf('=');
    const key = (eq < 0 ? part : part.slice(0, eq)).trim();
    const val = eq < 0 ? undefined : part.slice(eq + 1).trim();
    const setMode = (md: OnnxWeightMode): void => {
      if (mode !== undefined) throw new InputError(`weight '${spec}': more than one mode; give one of ${MODES_HELP}`);
      mode = md;
    };
    if (key === 'class') {
      const k = val === undefined || !/^\d+$/.test(val) ? NaN : Number(val);
      if (!Number.isSafeInteger(k)) throw new InputError(`weight '${spec}': class must be a class index 0, 1, 2, ... (class=K), got '${val ?? ''}'`);
      setMode({ kind: 'class', index: k });
    } else if ((key === 'recon' || key === 'log') && val === undefined) {
      setMode({ kind: key });
    } else if (key === 'output' && val) {
      output = val;
    } else {
      throw new InputError(`weight '${spec}': unknown option '${part}'; give ${MODES_HELP}, optionally with ,output=NAME`);
    }
  }
  return { path, mode: mode ?? { kind: 'log' }, ...(output !== undefined ? { output } : {}) };
}

const shapeText = (d: OnnxValue['dims']): string => (d === undefined ? '[?]' : `[${d.join(', ')}]`);

function modeText(mode: OnnxWeightMode): string {
  return mode.kind === 'class' ? `class=${mode.index}` : mode.kind;
}

/** The shape the mode needs of the output, as text. */
function neededOutput(mode: OnnxWeightMode, dim: number): string {
  return mode.kind === 'class' ? '[n, C] (logits, C > class index)' : mode.kind === 'recon' ? `[n, ${dim}] (the reconstruction of x)` : '[n] or [n, 1] (log l per row)';
}

/** Check the graph's input and output against the mode; returns the input and output used. */
function checkGraph(graph: OnnxGraphInfo, spec: OnnxWeightSpec, dim: number, src: string): { input: OnnxValue; output: OnnxValue } {
  const list = (vs: OnnxValue[]): string => vs.map((v) => `'${v.name}' ${shapeText(v.dims)}`).join(', ');
  if (graph.inputs.length !== 1) {
    throw new InputError(`${src}: a weight network takes one input x [n, ${dim}]; this graph takes ${graph.inputs.length}: ${list(graph.inputs)}`);
  }
  const input = graph.inputs[0];
  if (input.elemType !== 'FLOAT') throw new InputError(`${src}: input '${input.name}' is ${input.elemType}; a weight network takes float32 x [n, ${dim}]`);
  if (input.dims !== undefined) {
    if (input.dims.length !== 2 || (typeof input.dims[1] === 'number' && input.dims[1] !== dim)) {
      throw new InputError(`${src}: input '${input.name}' has shape ${shapeText(input.dims)}, but the model's points are x [n, ${dim}] (dimension ${dim}); the weight must take the model's dimension`);
    }
    if (typeof input.dims[0] === 'number') {
      throw new InputError(`${src}: input '${input.name}' has a fixed batch size, shape ${shapeText(input.dims)}, but a weight is evaluated on any number of rows; export with a dynamic batch axis (torch.onnx.export(..., dynamic_axes={'${input.name}': {0: 'n'}, OUTPUT: {0: 'n'}}))`);
    }
  }
  let output: OnnxValue | undefined;
  if (spec.output !== undefined) {
    output = graph.outputs.find((o) => o.name === spec.output);
    if (!output) throw new InputError(`${src}: the graph has no output '${spec.output}' (its outputs: ${list(graph.outputs)})`);
  } else if (graph.outputs.length === 1) {
    output = graph.outputs[0];
  } else {
    throw new InputError(`${src}: the graph has ${graph.outputs.length} outputs (${list(graph.outputs)}); name the one to use, e.g. --weight ${spec.path}:${modeText(spec.mode)},output=${graph.outputs[0].name}`);
  }
  if (output.elemType !== 'FLOAT') throw new InputError(`${src}: output '${output.name}' is ${output.elemType}; expected float32`);
  const d = output.dims;
  if (d !== undefined) {
    const { mode } = spec;
    const ok = mode.kind === 'class' ? d.length === 2
      : mode.kind === 'recon' ? d.length === 2 && (typeof d[1] !== 'number' || d[1] === dim)
        : d.length === 1 || (d.length === 2 && (typeof d[1] !== 'number' || d[1] === 1));
    if (!ok) {
      const hint = mode.kind !== 'log' ? '' : ` (for a classifier give ${spec.path}:class=K, for an autoencoder ${spec.path}:recon)`;
      throw new InputError(`${src}: output '${output.name}' has shape ${shapeText(d)}, but ${modeText(mode)} needs ${neededOutput(mode, dim)}${hint}`);
    }
    if (mode.kind === 'class' && typeof d[1] === 'number' && mode.index >= d[1]) {
      throw new InputError(`${src}: class=${mode.index} is out of range: the classifier's output '${output.name}' ${shapeText(d)} has ${d[1]} classes (0..${d[1] - 1})`);
    }
  }
  return { input, output };
}

/**
 * For `class=K`: when the output comes from a Softmax over the class axis, rewrite that node to
 * LogSoftmax (why: module comment). Returns the bytes to load and whether they were rewritten.
 */
function classGraphBytes(bytes: Uint8Array, output: string, src: string): { bytes: Uint8Array; rewritten: boolean } {
  const model: ModelProto = fromBinary(ModelProtoSchema, bytes);
  const node = model.graph?.node.find((nd) => nd.output.includes(output));
  if (node === undefined || (node.domain !== '' && node.domain !== 'ai.onnx')) return { bytes, rewritten: false };
  if (node.opType === 'Sigmoid') {
    throw new InputError(`${src}: output '${output}' comes from a Sigmoid (independent per-class probabilities); class=K takes logits [n, C] (or a final Softmax/LogSoftmax): export the network without its last Sigmoid, or give ${src}:log with a graph returning log l`);
  }
  if (node.opType !== 'Softmax') return { bytes, rewritten: false };
  // The class axis of an [n, C] output is 1 = -1; an absent axis is -1 (opset >= 13) or 1 (older,
  // on the flattened [n, C]): the last axis either way.
  const axisAttr = node.attribute.find((a) => a.name === 'axis');
  const axis = axisAttr === undefined ? -1 : Number(axisAttr.i);
  if (axis !== -1 && axis !== 1) {
    throw new InputError(`${src}: output '${output}' is a Softmax over axis ${axis}, not over the classes (axis 1 of [n, C]); export a classifier returning logits [n, C]`);
  }
  node.opType = 'LogSoftmax';
  return { bytes: toBinary(ModelProtoSchema, model), rewritten: true };
}

/** The op named in the engine's error, with what to do about it. */
function explain(e: unknown, src: string, what: string): InputError {
  if (e instanceof InputError) return e;
  const msg = (e instanceof Error ? e.message : String(e)).split('\n')[0];
  const op = opInMessage(msg);
  if (op !== undefined) {
    return new InputError(
      `${src}: op '${op}' is not supported by the jax-js engine, which differentiates ONNX weights (@jax-js/onnx): ${msg}; ` +
        `re-export the network without '${op}' (plain Gemm/MatMul/Add/Relu/Tanh/Sigmoid/Softmax networks load), or write the weight as a module FILE.mjs`,
      { cause: e },
    );
  }
  return new InputError(`${src}: ${what}: ${msg}`, { cause: e });
}

/**
 * Load `FILE.onnx[:MODE]` as a `LogWeight` for points of dimension `dim`: `log l` and
 * `grad_x log l` by autodiff through the graph. Read, checked and tried on a few rows here.
 */
export async function loadOnnxWeight(spec: string | OnnxWeightSpec, opts: OnnxWeightOptions): Promise<OnnxLogWeight> {
  const { dim } = opts;
  if (!Number.isInteger(dim) || dim < 1) throw new RangeError(`loadOnnxWeight: dimension must be a positive integer, got ${dim}`);
  const chunk = opts.chunk ?? CHUNK;
  if (!Number.isInteger(chunk) || chunk < 1) throw new RangeError(`loadOnnxWeight: chunk must be a positive integer, got ${chunk}`);
  const source = typeof spec === 'string' ? spec : `${spec.path}:${modeText(spec.mode)}`;
  const ws = typeof spec === 'string' ? parseOnnxWeightSpec(spec) : spec;
  const src = `ONNX weight ${ws.path}`;
  const bytes = readInputBytes(ws.path);
  const graph = readOnnxGraph(bytes, ws.path);
  const { input, output } = checkGraph(graph, ws, dim, src);
  const { mode } = ws;
  const loaded = mode.kind === 'class' ? classGraphBytes(bytes, output.name, src) : { bytes, rewritten: false };

  await initEngine();
  let fn: OnnxEngineFunction;
  try {
    fn = await onnxEngineFunction(loaded.bytes);
  } catch (e) {
    throw explain(e, src, 'the jax-js engine cannot load the graph');
  }

  // log l per row, traced by the engine (x: [m, dim] float32). Shape errors name the shape; they
  // are thrown while tracing, i.e. at the load-time trial below.
  const logL = (x: JaxArray): JaxArray => {
    const y = fn.run({ [input.name]: x })[output.name];
    if (y === undefined) throw new InputError(`${src}: the graph returned no output '${output.name}'`);
    const m = x.shape[0];
    const got = `[${y.shape.join(', ')}]`;
    const bad = (): InputError => new InputError(`${src}: output '${output.name}' has shape ${got} for x [${m}, ${dim}], but ${modeText(mode)} needs ${neededOutput(mode, dim)}`);
    if (mode.kind === 'class') {
      if (y.shape.length !== 2 || y.shape[0] !== m) throw bad();
      const C = y.shape[1];
      if (mode.index >= C) throw new InputError(`${src}: class=${mode.index} is out of range: the classifier's output '${output.name}' ${got} has ${C} classes (0..${C - 1})`);
      // Column K of log_softmax as a product with a one-hot row: log_softmax is finite, so no 0 * inf.
      const onehot = new Float32Array(C);
      onehot[mode.index] = 1;
      return np.sum(np.multiply(nn.logSoftmax(y, -1), np.array(onehot)), -1);
    }
    if (mode.kind === 'recon') {
      if (y.shape.length !== 2 || y.shape[0] !== m || y.shape[1] !== dim) throw bad();
      const r = np.subtract(y, x);
      return np.log(np.sum(np.multiply(r, r), -1));
    }
    if (y.shape.length === 1 && y.shape[0] === m) return y;
    if (y.shape.length === 2 && y.shape[0] === m && y.shape[1] === 1) return np.reshape(y, [m]);
    throw bad();
  };
  const name = `${src} (${modeText(mode)})`;
  const vg = valueAndGrad(logL, { dim, dtype: 'float32', name });
  const vals = rowValues(logL, { dim, dtype: 'float32', name });

  // Chunks of at most `chunk` rows, each padded with zero rows to its bucket size.
  const padded = (x: Batch, start: number, rows: number): Batch => {
    const m = Math.min(bucketSize(rows), Math.max(rows, chunk));
    const data = new Float64Array(m * dim);
    data.set(x.data.subarray(start * dim, (start + rows) * dim));
    return { n: m, dim, data };
  };
  const checkDim = (x: Batch): void => {
    if (x.dim !== dim) throw new RangeError(`${src}: points have dimension ${x.dim}, the weight was loaded for dimension ${dim}`);
  };
  const valueAndGradChunked = (x: Batch): ValueAndGrad => {
    checkDim(x);
    const value = new Float64Array(x.n);
    const grad = new Float64Array(x.n * dim);
    for (let start = 0; start < x.n; start += chunk) {
      const rows = Math.min(chunk, x.n - start);
      const r = vg(padded(x, start, rows));
      value.set(r.value.subarray(0, rows), start);
      grad.set(r.grad.data.subarray(0, rows * dim), start * dim);
    }
    return { value, grad: { n: x.n, dim, data: grad } };
  };
  const valueChunked = (x: Batch): Float64Array => {
    checkDim(x);
    const value = new Float64Array(x.n);
    for (let start = 0; start < x.n; start += chunk) {
      const rows = Math.min(chunk, x.n - start);
      value.set(vals(padded(x, start, rows)).subarray(0, rows), start);
    }
    return value;
  };

  // Trial on 3 rows (value and gradient: both compiled programs), so that an op the engine lacks
  // or an output of the wrong shape fails here, not mid-sampling. Non-finite values are allowed
  // (a weight may be 0 somewhere; the sampler floors it).
  const probe: Batch = { n: 3, dim, data: Float64Array.from({ length: 3 * dim }, (_, k) => 0.5 * Math.sin(1.3 * k + 0.4)) };
  try {
    valueAndGradChunked(probe);
    valueChunked(probe);
  } catch (e) {
    fn.dispose();
    throw explain(e, src, `the jax-js engine cannot run it on x [3, ${dim}]`);
  }

  const description = mode.kind === 'class'
    ? `l(x) = softmax(${output.name}(x))[${mode.index}] (probability of class ${mode.index} under the ONNX classifier ${ws.path}${loaded.rewritten ? '; its final Softmax run as LogSoftmax' : ''})`
    : mode.kind === 'recon'
      ? `l(x) = |AE(x) - x|^2 (reconstruction error of the ONNX autoencoder ${ws.path})`
      : `log l(x) = ${output.name}(x) (the ONNX network ${ws.path})`;
  return {
    dim, source, mode, input: input.name, output: output.name, softmaxRewritten: loaded.rewritten, description,
    value: valueChunked,
    valueAndGrad: valueAndGradChunked,
    dispose: () => fn.dispose(),
  };
}
