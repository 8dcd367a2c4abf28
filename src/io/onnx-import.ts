/**
 * ONNX import of a score network: `model.onnx` plus its sidecar `model.onnx.json`
 * (`onnx-sidecar.ts`), checked and loaded as a `ScoreModel` on onnxruntime-node or jax-js
 * (`models/onnx-predictor.ts`).
 *
 * Every way a user's file can be wrong ends in ONE InputError naming the file and the problem:
 * not an ONNX model; no sidecar, or a bad one; inputs or output of the wrong name, element type,
 * rank or size (named with the shape found and the shape needed); an op the backend lacks
 * (named). The graph is read here with the ONNX schema (`onnx-buf`) before any runtime sees it,
 * and then run once on two rows, so that what the runtime rejects is reported at load time, not
 * in the middle of a sampler.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fromBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, TensorProto_DataType, type ModelProto, type ValueInfoProto } from 'onnx-buf';
import type { NoiseSchedule, ScoreModel } from '../core/types.js';
import { onnxPredictor, onnxScoreModel, type OnnxNetworkSpec, type OnnxPredictor, type OnnxPredictorOptions } from '../models/onnx-predictor.js';
import { InputError, readInputBytes } from './errors.js';
import { parseOnnxSidecar, sidecarPath, timeMapOf, type OnnxSidecar } from './onnx-sidecar.js';

/** A graph input or output: name, ONNX element type name, dims (strings are symbolic). */
export interface OnnxValue {
  name: string;
  elemType: string;
  dims: (number | string)[] | undefined;
}

export interface OnnxGraphInfo {
  irVersion: number;
  opsets: Record<string, number>;
  producer: string;
  /** Graph inputs that are not initializers. */
  inputs: OnnxValue[];
  outputs: OnnxValue[];
  /** Distinct op types, in graph order (`domain::Op` outside the default domain). */
  ops: string[];
  metadata: Record<string, string>;
}

const shapeText = (d: OnnxValue['dims']): string => (d === undefined ? '[?]' : `[${d.join(', ')}]`);

function valueOf(v: ValueInfoProto): OnnxValue {
  if (v.type?.value.case !== 'tensorType') return { name: v.name, elemType: v.type?.value.case ?? 'unknown', dims: undefined };
  const tt = v.type.value.value;
  const elemType = TensorProto_DataType[tt.elemType] ?? String(tt.elemType);
  const dims = tt.shape?.dim.map((d) => (d.value.case === 'dimValue' ? Number(d.value.value) : d.value.case === 'dimParam' ? d.value.value : '?'));
  return { name: v.name, elemType, dims };
}

/** Parse ONNX bytes; an InputError when they are not an ONNX model. */
export function readOnnxGraph(bytes: Uint8Array, source: string): OnnxGraphInfo {
  let model: ModelProto;
  try {
    model = fromBinary(ModelProtoSchema, bytes);
  } catch (e) {
    throw new InputError(`${source} is not an ONNX model (it does not parse as an ONNX ModelProto: ${(e as Error).message})`);
  }
  // Protobuf parsing is lenient (unknown fields are skipped), so also require what every ONNX
  // model has: an IR version, an opset and a graph with an output.
  if (model.irVersion === 0n || model.graph === undefined || model.opsetImport.length === 0 || model.graph.output.length === 0) {
    throw new InputError(`${source} is not an ONNX model (no ${model.irVersion === 0n ? 'IR version' : model.graph === undefined ? 'graph' : model.opsetImport.length === 0 ? 'opset' : 'graph output'})`);
  }
  const g = model.graph;
  const init = new Set(g.initializer.map((t) => t.name));
  const ops: string[] = [];
  for (const n of g.node) {
    const op = n.domain && n.domain !== 'ai.onnx' ? `${n.domain}::${n.opType}` : n.opType;
    if (!ops.includes(op)) ops.push(op);
  }
  return {
    irVersion: Number(model.irVersion),
    opsets: Object.fromEntries(model.opsetImport.map((o) => [o.domain || 'ai.onnx', Number(o.version)])),
    producer: `${model.producerName} ${model.producerVersion}`.trim(),
    inputs: g.input.filter((v) => !init.has(v.name)).map(valueOf),
    outputs: g.output.map(valueOf),
    ops,
    metadata: Object.fromEntries(model.metadataProps.map((p) => [p.key, p.value])),
  };
}

/**
 * The call spec of a score network: the sidecar's tensor names checked against the graph, with
 * every shape and type the samplers rely on. An InputError names the input and its shape.
 */
export function networkSpecOf(graph: OnnxGraphInfo, sidecar: OnnxSidecar, source: string): OnnxNetworkSpec {
  const names = graph.inputs.map((v) => `'${v.name}' ${shapeText(v.dims)}`).join(', ');
  const find = (role: 'x' | 't'): OnnxValue => {
    const name = sidecar.inputs?.[role] ?? role;
    const v = graph.inputs.find((i) => i.name === name);
    if (!v) throw new InputError(`${source}: the graph has no input '${name}' for ${role} (its inputs: ${names}); name it in the sidecar, "inputs": {"${role}": NAME}`);
    return v;
  };
  const x = find('x');
  const t = find('t');
  const extra = graph.inputs.filter((v) => v.name !== x.name && v.name !== t.name);
  if (extra.length > 0) {
    throw new InputError(`${source}: the graph takes inputs besides x and t: ${extra.map((v) => `'${v.name}' ${shapeText(v.dims)}`).join(', ')}; a score network takes x [n, dim] and t [n, 1] only`);
  }
  const dim = sidecar.dim;
  for (const v of [x, t]) {
    if (v.elemType !== 'FLOAT') throw new InputError(`${source}: input '${v.name}' is ${v.elemType}; score networks take float32 inputs`);
  }
  const batchDim = (v: OnnxValue, need: string): void => {
    if (v.dims !== undefined && typeof v.dims[0] === 'number') {
      throw new InputError(`${source}: input '${v.name}' has a fixed batch size, shape ${shapeText(v.dims)}, but needs ${need} for any n; export with a dynamic batch axis (torch.onnx.export(..., dynamic_axes={'${v.name}': {0: 'n'}}))`);
    }
  };
  // x: [n, dim].
  if (x.dims !== undefined && (x.dims.length !== 2 || (typeof x.dims[1] === 'number' && x.dims[1] !== dim))) {
    throw new InputError(`${source}: input '${x.name}' has shape ${shapeText(x.dims)}, but x must be [n, ${dim}] (rank 2, dim ${dim} from the sidecar)`);
  }
  batchDim(x, `[n, ${dim}]`);
  // t: [n, 1] or [n].
  let tRank: 1 | 2 = 2;
  if (t.dims !== undefined) {
    if (t.dims.length === 1) tRank = 1;
    else if (t.dims.length !== 2 || (typeof t.dims[1] === 'number' && t.dims[1] !== 1)) {
      throw new InputError(`${source}: input '${t.name}' has shape ${shapeText(t.dims)}, but t must be [n, 1] or [n]`);
    }
    batchDim(t, tRank === 2 ? '[n, 1]' : '[n]');
  }
  // Output: [n, dim].
  const outName = sidecar.output ?? (graph.outputs.length === 1 ? graph.outputs[0].name : undefined);
  if (outName === undefined) {
    throw new InputError(`${source}: the graph has ${graph.outputs.length} outputs (${graph.outputs.map((o) => `'${o.name}'`).join(', ')}); name the score network's in the sidecar, "output": NAME`);
  }
  const out = graph.outputs.find((o) => o.name === outName);
  if (!out) throw new InputError(`${source}: the graph has no output '${outName}' (its outputs: ${graph.outputs.map((o) => `'${o.name}'`).join(', ')})`);
  if (out.elemType !== 'FLOAT') throw new InputError(`${source}: output '${out.name}' is ${out.elemType}; expected float32`);
  if (out.dims !== undefined && (out.dims.length !== 2 || (typeof out.dims[1] === 'number' && out.dims[1] !== dim))) {
    throw new InputError(`${source}: output '${out.name}' has shape ${shapeText(out.dims)}, but a score network returns [n, ${dim}]`);
  }
  const time = timeMapOf(sidecar);
  return { dim, x: x.name, t: t.name, tRank, output: out.name, timeScale: time.scale, timeOffset: time.offset };
}

export interface ImportedOnnxNetwork {
  path: string;
  bytes: Uint8Array;
  sidecar: OnnxSidecar;
  graph: OnnxGraphInfo;
  spec: OnnxNetworkSpec;
}

/** Whether a `--model` value names an ONNX file (rather than a checkpoint folder). */
export function isOnnxPath(spec: string): boolean {
  return /\.onnx$/i.test(spec);
}

/** Read and check `path` and its sidecar (no runtime involved yet). */
export function readOnnxScoreNetwork(path: string): ImportedOnnxNetwork {
  const bytes = readInputBytes(path);
  const graph = readOnnxGraph(bytes, path);
  const side = sidecarPath(path);
  if (!existsSync(side)) {
    throw new InputError(
      `${path}: no sidecar ${side}; it names how to read the network's output, e.g. ` +
        '{"format": "tweedie-onnx-score", "version": 1, "dim": 2, "parametrisation": "noise", "time": "continuous", "schedule": {"kind": "vp", "betaMin": 0.1, "betaMax": 20}}',
    );
  }
  const sidecar = parseOnnxSidecar(readFileSync(side, 'utf8'), side);
  return { path, bytes, sidecar, graph, spec: networkSpecOf(graph, sidecar, path) };
}

/** The op named in a backend's error, when there is one. */
export function opInMessage(msg: string): string | undefined {
  // @jax-js/onnx: "Unsupported ONNX operation: X"; onnxruntime: "No Op registered for X with
  // domain_version of N" (unknown op) or "Could not find an implementation for X(N) node" (an op
  // without a CPU kernel for these types).
  return /Unsupported ONNX operation: (\S+)/.exec(msg)?.[1] ?? /No Op registered for (\S+)/.exec(msg)?.[1] ?? /implementation for (\w+)\(/.exec(msg)?.[1];
}

/**
 * A predictor of an imported network on the chosen backend, after one trial forward of two rows
 * at t = 0.5. Load and trial failures become one InputError naming the op or shape.
 */
export async function loadOnnxPredictor(net: ImportedOnnxNetwork, opts: OnnxPredictorOptions = {}): Promise<OnnxPredictor> {
  const { path, spec } = net;
  const tShape = spec.tRank === 2 ? '[2, 1]' : '[2]';
  const explain = (e: unknown, stage: string, backend: string): InputError => {
    if (e instanceof InputError) return e;
    const msg = (e as Error).message ?? String(e);
    const op = opInMessage(msg);
    const noOrt = backend === 'jax' && opts.backend !== 'jax' ? ' (onnxruntime-node is not installed, so the jax-js engine ran it)' : '';
    if (op !== undefined) return new InputError(`${path}: op '${op}' is not supported by the ${backend} engine${noOrt}: ${msg.split('\n')[0]}`, { cause: e });
    return new InputError(`${path}: the ${backend} engine cannot ${stage}${noOrt}: ${msg.split('\n')[0]}`, { cause: e });
  };
  let p: OnnxPredictor;
  try {
    p = await onnxPredictor(net.bytes, spec, opts);
  } catch (e) {
    if (opts.backend === 'onnxruntime' && /not installed/.test((e as Error).message)) throw new InputError((e as Error).message, { cause: e });
    throw explain(e, 'load the graph', opts.backend === 'jax' ? 'jax' : 'onnxruntime');
  }
  try {
    const y = p.predict({ n: 2, dim: spec.dim, data: new Float64Array(2 * spec.dim) }, 0.5);
    const bad = y.data.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new InputError(`${path}: the network returned a non-finite value at x = 0, t = 0.5`);
  } catch (e) {
    p.dispose();
    if (e instanceof RangeError && /returned shape/.test(e.message)) {
      throw new InputError(`${path}: output '${spec.output}' ${e.message.replace(/^ONNX network /, '')} (x [2, ${spec.dim}], t ${tShape})`);
    }
    throw explain(e, `run it on x [2, ${spec.dim}], t ${tShape}`, p.backend);
  }
  return p;
}

/**
 * `path` (+ sidecar) as a `ScoreModel` for `schedule` (the sidecar's own schedule, or the
 * discrete chain the ancestral sampler runs): read, checked, loaded, tried.
 */
export async function loadOnnxScoreModel(
  net: ImportedOnnxNetwork | string, schedule: NoiseSchedule, opts: OnnxPredictorOptions = {},
): Promise<ScoreModel & { predictor: OnnxPredictor; backend: 'onnxruntime' | 'jax'; dispose(): void }> {
  const n = typeof net === 'string' ? readOnnxScoreNetwork(net) : net;
  return onnxScoreModel(await loadOnnxPredictor(n, opts), n.sidecar.parametrisation, schedule);
}
