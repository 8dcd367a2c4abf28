/**
 * ONNX export of this project's MLP score network (`models/mlp.ts`), written with the ONNX schema
 * compiled for protobuf-es (`onnx-buf`, `@bufbuild/protobuf`), not hand-rolled protobuf.
 *
 * The graph is the network exactly as `mlpForwardReference` defines it, in the ops PyTorch's
 * exporter emits for the same module, so that any ONNX runtime reads it:
 *
 *   phase = Mul(t [n,1], freqs [1,half])        freqs = TIME_SCALE * 10000^(-k/(half-1))
 *   h     = Concat(x, Sin(phase), Cos(phase))   [n, dim + embDim]
 *   z_l   = Gemm(h, W_l, b_l, transB=1)         W_l in PyTorch layout [out, in] (nn.Linear)
 *   h     = Mul(z_l, Sigmoid(z_l))              SiLU, l < depth
 *   out   = Gemm(h, W_depth, b_depth, transB=1) [n, dim]
 *
 * Inputs `x` float32 `[n, dim]` and `t` float32 `[n, 1]` (t in [0, 1]; `n` symbolic), output
 * `out` float32 `[n, dim]`. SiLU is written Sigmoid * x rather than the plain `z / (1 + exp(-z))`
 * of no op: onnxruntime fuses that pair into one kernel, and it is what `torch.onnx` writes for
 * `nn.SiLU` at opset 17.
 *
 * How to read the output (parametrisation, time form, schedule, data normalisation) goes into the
 * model's `metadata_props` (keys `tweedie.*`) and into the JSON sidecar `model.onnx.json`
 * (`onnx-sidecar.ts`), which is what `--model model.onnx` reads back.
 */
import { create, toBinary } from '@bufbuild/protobuf';
import {
  AttributeProto_AttributeType, AttributeProtoSchema, GraphProtoSchema, ModelProtoSchema, NodeProtoSchema, OperatorSetIdProtoSchema,
  StringStringEntryProtoSchema, TensorProto_DataType, TensorProtoSchema, TensorShapeProto_DimensionSchema, TensorShapeProtoSchema,
  TypeProto_TensorSchema, TypeProtoSchema, ValueInfoProtoSchema, type NodeProto, type TensorProto, type ValueInfoProto,
} from 'onnx-buf';
import type { NetworkConfig } from '../models/architecture.js';
import { embeddingFrequencies } from '../models/embedding.js';
import { checkMlpConfig, mlpTensorSpecs, type MlpConfig } from '../models/mlp.js';
import { onnxPredictor, type OnnxNetworkSpec, type OnnxPredictor, type OnnxPredictorOptions } from '../models/onnx-predictor.js';
import { checkTensors, type Tensors } from '../models/tensors.js';
import { writeFileAtomic } from './atomic.js';
import type { ModelConfig } from './checkpoint.js';
import { InputError } from './errors.js';
import { ONNX_SIDECAR_FORMAT, sidecarPath, type OnnxSchedule, type OnnxSidecar } from './onnx-sidecar.js';

/**
 * Opset 17 / IR version 8: what PyTorch 1.13 (Debian's python3-torch) writes at its highest
 * opset, and well inside what onnxruntime 1.30 and @jax-js/onnx read. Nothing newer is needed.
 */
export const ONNX_OPSET = 17;
export const ONNX_IR_VERSION = 8;

/** Names of the graph's inputs and output. */
export const ONNX_INPUT_X = 'x';
export const ONNX_INPUT_T = 't';
export const ONNX_OUTPUT = 'out';

/** A float32 tensor initializer; raw little-endian bytes (compact, and what PyTorch writes). */
function floatTensor(name: string, dims: number[], data: Float32Array | Float64Array): TensorProto {
  const bytes = new Uint8Array(data.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i], true);
  return create(TensorProtoSchema, { name, dims: dims.map(BigInt), dataType: TensorProto_DataType.FLOAT, rawData: bytes });
}

/** A float32 graph input/output of shape `dims` (strings are symbolic dimensions). */
function floatValue(name: string, dims: (number | string)[]): ValueInfoProto {
  const dim = dims.map((d) => create(TensorShapeProto_DimensionSchema, {
    value: typeof d === 'number' ? { case: 'dimValue', value: BigInt(d) } : { case: 'dimParam', value: d },
  }));
  const tensorType = create(TypeProto_TensorSchema, { elemType: TensorProto_DataType.FLOAT, shape: create(TensorShapeProtoSchema, { dim }) });
  return create(ValueInfoProtoSchema, { name, type: create(TypeProtoSchema, { value: { case: 'tensorType', value: tensorType } }) });
}

function node(opType: string, input: string[], output: string[], ints: Record<string, number> = {}): NodeProto {
  const attribute = Object.entries(ints).map(([name, v]) => create(AttributeProtoSchema, { name, type: AttributeProto_AttributeType.INT, i: BigInt(v) }));
  return create(NodeProtoSchema, { opType, input, output, name: `${opType}_${output[0]}`, attribute });
}

/**
 * The ONNX bytes of an MLP score network (see the module comment), with `metadata` as the model's
 * `metadata_props`. Parameters in PyTorch layout, checked against the config.
 */
export function mlpOnnxBytes(cfg: MlpConfig, params: Tensors, metadata: Record<string, string> = {}): Uint8Array {
  checkMlpConfig(cfg);
  const specs = mlpTensorSpecs(cfg);
  checkTensors(params, specs, 'MLP parameters');
  const freqs = embeddingFrequencies(cfg.embDim);
  const initializer: TensorProto[] = [floatTensor('time_embedding.freqs', [1, freqs.length], Float32Array.from(freqs))];
  for (const s of specs) initializer.push(floatTensor(s.name, s.shape, params[s.name].data));

  const nodes: NodeProto[] = [
    node('Mul', [ONNX_INPUT_T, 'time_embedding.freqs'], ['phase']),
    node('Sin', ['phase'], ['emb_sin']),
    node('Cos', ['phase'], ['emb_cos']),
    node('Concat', [ONNX_INPUT_X, 'emb_sin', 'emb_cos'], ['h0'], { axis: 1 }),
  ];
  let h = 'h0';
  for (let l = 0; l <= cfg.depth; l++) {
    const last = l === cfg.depth;
    const z = last ? ONNX_OUTPUT : `z${l}`;
    nodes.push(node('Gemm', [h, `layers.${l}.weight`, `layers.${l}.bias`], [z], { transB: 1 }));
    if (!last) {
      nodes.push(node('Sigmoid', [z], [`sig${l}`]), node('Mul', [z, `sig${l}`], [`h${l + 1}`]));
      h = `h${l + 1}`;
    }
  }
  const graph = create(GraphProtoSchema, {
    name: 'tweedie_mlp',
    node: nodes,
    initializer,
    input: [floatValue(ONNX_INPUT_X, ['n', cfg.dim]), floatValue(ONNX_INPUT_T, ['n', 1])],
    output: [floatValue(ONNX_OUTPUT, ['n', cfg.dim])],
  });
  const model = create(ModelProtoSchema, {
    irVersion: BigInt(ONNX_IR_VERSION),
    opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: BigInt(ONNX_OPSET) })],
    producerName: 'tweedie',
    docString: `tweedie MLP score network ${cfg.depth} x ${cfg.hidden}, SiLU, sinusoidal time embedding ${cfg.embDim}; x [n, ${cfg.dim}], t [n, 1] in [0, 1] -> [n, ${cfg.dim}]`,
    graph,
    metadataProps: Object.entries(metadata).map(([key, value]) => create(StringStringEntryProtoSchema, { key, value })),
  });
  return toBinary(ModelProtoSchema, model);
}

/** The sidecar of a trained model (VP or DDPM; the network takes continuous t in [0, 1]). */
export function sidecarOfModel(config: ModelConfig): OnnxSidecar {
  const d = config.diffusion;
  if (d.kind === 've') {
    throw new InputError('ONNX export covers variance-preserving (vp, ddpm) models; this one uses the variance-exploding schedule (an iDEM baseline)');
  }
  const schedule: OnnxSchedule = d.kind === 'vp'
    ? { kind: 'vp', betaMin: d.betaMin, betaMax: d.betaMax }
    : { kind: 'ddpm', steps: d.steps, betaStart: d.betaStart, betaEnd: d.betaEnd };
  return {
    format: ONNX_SIDECAR_FORMAT,
    version: 1,
    dim: config.data.dim,
    parametrisation: config.parametrisation,
    // Our networks embed continuous t (embedding.ts scales it by 1000 inside the graph), for
    // continuous-VP and DDPM models alike (the DDPM trainer feeds t = i / T).
    time: 'continuous',
    schedule,
    inputs: { x: ONNX_INPUT_X, t: ONNX_INPUT_T },
    output: ONNX_OUTPUT,
    data: { source: config.data.source, normalisation: { ...config.data.normalisation } },
    network: config.network,
  };
}

/** The `metadata_props` recorded in an exported model: the sidecar's facts, one key each. */
export function sidecarMetadata(s: OnnxSidecar): Record<string, string> {
  return {
    'tweedie.format': `${s.format}/${s.version}`,
    'tweedie.parametrisation': s.parametrisation,
    'tweedie.time': s.time,
    'tweedie.schedule': JSON.stringify(s.schedule),
    'tweedie.normalisation': JSON.stringify(s.data?.normalisation ?? { scale: 1, shift: 0 }),
    ...(s.data?.source !== undefined ? { 'tweedie.data_source': s.data.source } : {}),
    'tweedie.network': JSON.stringify(s.network ?? null),
    'tweedie.sidecar': JSON.stringify(s),
  };
}

/** The ONNX bytes of a trained model's network, its metadata recorded. MLP only. */
export function modelOnnxBytes(config: ModelConfig, params: Tensors): { bytes: Uint8Array; sidecar: OnnxSidecar } {
  const net: NetworkConfig = config.network;
  if (net.kind !== 'mlp') {
    throw new InputError(`ONNX export covers the MLP score network; this model is an ${net.kind.toUpperCase()} (export it from a PyTorch port instead)`);
  }
  const sidecar = sidecarOfModel(config);
  const { kind: _kind, ...mlp } = net;
  return { bytes: mlpOnnxBytes(mlp, params, sidecarMetadata(sidecar)), sidecar };
}

/** Write `out` (the ONNX model) and `out.json` (its sidecar), each atomically. */
export function writeModelOnnx(out: string, config: ModelConfig, params: Tensors): OnnxSidecar {
  const { bytes, sidecar } = modelOnnxBytes(config, params);
  writeFileAtomic(out, bytes);
  writeFileAtomic(sidecarPath(out), `${JSON.stringify(sidecar, null, 2)}\n`);
  return sidecar;
}

/**
 * The fast forward path for a checkpoint's network: its MLP exported in memory and run by
 * onnxruntime-node (`models/onnx-predictor.ts`), the same function as `networkPredictor` to
 * float32 rounding (tested). `backend: 'jax'` runs the graph on jax-js instead (slower than
 * `networkPredictor`; for comparisons). An EGNN has no ONNX export: an InputError.
 */
export async function exportedNetworkPredictor(network: NetworkConfig, params: Tensors, opts: OnnxPredictorOptions = {}): Promise<OnnxPredictor> {
  if (network.kind !== 'mlp') throw new InputError(`the onnxruntime engine runs MLP score networks; this model is an ${network.kind.toUpperCase()}: use --engine jax`);
  const { kind: _kind, ...mlp } = network;
  const spec: OnnxNetworkSpec = { dim: mlp.dim, x: ONNX_INPUT_X, t: ONNX_INPUT_T, tRank: 2, output: ONNX_OUTPUT, timeScale: 1 };
  return onnxPredictor(mlpOnnxBytes(mlp, params), spec, opts);
}
