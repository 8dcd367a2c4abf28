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
import { create } from '@bufbuild/protobuf';
import { GraphProtoSchema, type NodeProto, type TensorProto } from 'onnx-buf';
import { floatTensor, floatValue, modelProtoBytes, node } from '../core/onnx-graph.js';
import type { NetworkConfig } from '../models/architecture.js';
import { checkEgnnConfig, egnnDim, egnnTensorSpecs, type EgnnConfig } from '../models/egnn.js';
import { egnnForwardNodes, type OnnxGraphParts } from '../models/egnn-onnx.js';
import { embeddingFrequencies } from '../models/embedding.js';
import { checkMlpConfig, mlpScales, mlpTensorSpecs, type MlpConfig } from '../models/mlp.js';
import { onnxPredictor, type OnnxNetworkSpec, type OnnxPredictor, type OnnxPredictorOptions } from '../models/onnx-predictor.js';
import { checkTensors, type Tensors } from '../models/tensors.js';
import { writeFileAtomic } from './atomic.js';
import type { ModelConfig } from './checkpoint.js';
import { InputError } from './errors.js';
import { ONNX_SIDECAR_FORMAT, sidecarPath, type OnnxSchedule, type OnnxSidecar } from './onnx-sidecar.js';

// Opset and IR version: `core/onnx-graph.ts` (re-exported for existing importers).
export { ONNX_IR_VERSION, ONNX_OPSET } from '../core/onnx-graph.js';

/** Names of the graph's inputs and output. */
export const ONNX_INPUT_X = 'x';
export const ONNX_INPUT_T = 't';
export const ONNX_OUTPUT = 'out';

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

  // MlpConfig.inputScale / outputScale: the network in its own coordinates, two Muls.
  const { input: inScale, output: outScale } = mlpScales(cfg);
  if (inScale !== 1) initializer.push(floatTensor('input_scale', [1], Float32Array.of(1 / inScale)));
  if (outScale !== 1) initializer.push(floatTensor('output_scale', [1], Float32Array.of(outScale)));
  const xIn = inScale !== 1 ? 'x_scaled' : ONNX_INPUT_X;
  const nodes: NodeProto[] = [
    ...(inScale !== 1 ? [node('Mul', [ONNX_INPUT_X, 'input_scale'], [xIn])] : []),
    node('Mul', [ONNX_INPUT_T, 'time_embedding.freqs'], ['phase']),
    node('Sin', ['phase'], ['emb_sin']),
    node('Cos', ['phase'], ['emb_cos']),
    node('Concat', [xIn, 'emb_sin', 'emb_cos'], ['h0'], { axis: 1 }),
  ];
  let h = 'h0';
  for (let l = 0; l <= cfg.depth; l++) {
    const last = l === cfg.depth;
    const z = last ? (outScale !== 1 ? 'out_unscaled' : ONNX_OUTPUT) : `z${l}`;
    nodes.push(node('Gemm', [h, `layers.${l}.weight`, `layers.${l}.bias`], [z], { transB: 1 }));
    if (!last) {
      nodes.push(node('Sigmoid', [z], [`sig${l}`]), node('Mul', [z, `sig${l}`], [`h${l + 1}`]));
      h = `h${l + 1}`;
    }
  }
  if (outScale !== 1) nodes.push(node('Mul', ['out_unscaled', 'output_scale'], [ONNX_OUTPUT]));
  const graph = create(GraphProtoSchema, {
    name: 'tweedie_mlp',
    node: nodes,
    initializer,
    input: [floatValue(ONNX_INPUT_X, ['n', cfg.dim]), floatValue(ONNX_INPUT_T, ['n', 1])],
    output: [floatValue(ONNX_OUTPUT, ['n', cfg.dim])],
  });
  return modelProtoBytes(
    graph,
    `tweedie MLP score network ${cfg.depth} x ${cfg.hidden}, SiLU, sinusoidal time embedding ${cfg.embDim}; x [n, ${cfg.dim}], t [n, 1] in [0, 1] -> [n, ${cfg.dim}]`,
    metadata,
  );
}

/**
 * The ONNX bytes of an EGNN score network (`models/egnn.ts`), the same function as `egnnApply`
 * with the same interface as the MLP's export (x float32 `[n, P s]`, t float32 `[n, 1]` ->
 * `[n, P s]`), in ops that onnxruntime and @jax-js/onnx both run (Reshape, Gather, Unsqueeze,
 * Gemm, Sigmoid, Mul, Add, Sub, Div, Sqrt, ReduceSum, Sin, Cos, Concat). The graph and why it
 * has this form: `models/egnn-onnx.ts` (`egnnForwardNodes`, shared with the onnxruntime training
 * step). Here the weights are initializers; split first-layer weights are stored as their own
 * initializers (`<layer>.weight.h_i` etc., PyTorch `[out, in]` layout).
 */
export function egnnOnnxBytes(cfg: EgnnConfig, params: Tensors, metadata: Record<string, string> = {}): Uint8Array {
  checkEgnnConfig(cfg);
  const specs = egnnTensorSpecs(cfg);
  checkTensors(params, specs, 'EGNN parameters');
  const { particles: P, spaceDim: s, hidden: H, layers: L } = cfg;
  const D = egnnDim(cfg);
  const g: OnnxGraphParts = { nodes: [], initializer: [] };
  // Names of the split blocks of a first-layer weight, by its input pieces.
  const blockNames = (weight: string): string[] => (weight.includes('.edge_mlp.') ? ['h_i', 'h_j', 'd2'] : ['h', 'm']);
  egnnForwardNodes(cfg, g, {
    tensor(name) {
      g.initializer.push(floatTensor(name, params[name].shape, params[name].data));
      return name;
    },
    columns(name, bounds, shapes) {
      // Columns [c0, c1) of a PyTorch-layout weight [out, in]: the part of a layer acting on
      // one piece of its concatenated input.
      const w = params[name];
      const [fout, fin] = w.shape;
      return shapes.map((shape, k) => {
        const [c0, c1] = [bounds[k], bounds[k + 1]];
        const o = new Float32Array(fout * (c1 - c0));
        for (let r = 0; r < fout; r++) o.set(w.data.subarray(r * fin + c0, r * fin + c1), r * (c1 - c0));
        const block = `${name}.${blockNames(name)[k]}`;
        g.initializer.push(floatTensor(block, shape, o));
        return block;
      });
    },
  }, ONNX_INPUT_X, ONNX_INPUT_T, ONNX_OUTPUT);

  const graph = create(GraphProtoSchema, {
    name: 'tweedie_egnn',
    node: g.nodes,
    initializer: g.initializer,
    input: [floatValue(ONNX_INPUT_X, ['n', D]), floatValue(ONNX_INPUT_T, ['n', 1])],
    output: [floatValue(ONNX_OUTPUT, ['n', D])],
  });
  return modelProtoBytes(
    graph,
    `tweedie EGNN score network ${L} x ${H}, ${P} particles in ${s}-D, ${cfg.output} output, sinusoidal time embedding ${cfg.embDim}; x [n, ${D}] (particle p at p*${s}..), t [n, 1] in [0, 1] -> [n, ${D}]`,
    metadata,
  );
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

/** The ONNX bytes of a network (MLP or EGNN) with `metadata` as `metadata_props`. */
export function networkOnnxBytes(network: NetworkConfig, params: Tensors, metadata: Record<string, string> = {}): Uint8Array {
  const { kind, ...cfg } = network;
  if (kind === 'mlp') return mlpOnnxBytes(cfg as MlpConfig, params, metadata);
  if (kind === 'egnn') return egnnOnnxBytes(cfg as EgnnConfig, params, metadata);
  throw new InputError(`ONNX export covers the MLP and EGNN score networks; this model's network is '${String(kind)}'`);
}

/**
 * `networkOnnxBytes` with a config error (a hand-edited or foreign checkpoint: e.g. an EGNN with
 * one particle, an activation other than SiLU) as one InputError naming the network.
 */
function checkedNetworkOnnxBytes(network: NetworkConfig, params: Tensors, metadata: Record<string, string> = {}): Uint8Array {
  try {
    return networkOnnxBytes(network, params, metadata);
  } catch (e) {
    if (e instanceof RangeError) throw new InputError(`cannot export this ${String(network.kind).toUpperCase()} network to ONNX: ${e.message}`, { cause: e });
    throw e;
  }
}

/** The ONNX bytes of a trained model's network (MLP or EGNN), its metadata recorded. */
export function modelOnnxBytes(config: ModelConfig, params: Tensors): { bytes: Uint8Array; sidecar: OnnxSidecar } {
  const sidecar = sidecarOfModel(config);
  return { bytes: checkedNetworkOnnxBytes(config.network, params, sidecarMetadata(sidecar)), sidecar };
}

/** Write `out` (the ONNX model) and `out.json` (its sidecar), each atomically. */
export function writeModelOnnx(out: string, config: ModelConfig, params: Tensors): OnnxSidecar {
  const { bytes, sidecar } = modelOnnxBytes(config, params);
  writeFileAtomic(out, bytes);
  writeFileAtomic(sidecarPath(out), `${JSON.stringify(sidecar, null, 2)}\n`);
  return sidecar;
}

/**
 * The fast forward path for a checkpoint's network: its MLP or EGNN exported in memory and run
 * by onnxruntime-node (`models/onnx-predictor.ts`), the same function as `networkPredictor` to
 * float32 rounding (tested). `backend: 'jax'` runs the graph on jax-js instead (slower than
 * `networkPredictor`; for comparisons).
 */
export async function exportedNetworkPredictor(network: NetworkConfig, params: Tensors, opts: OnnxPredictorOptions = {}): Promise<OnnxPredictor> {
  const dim = network.kind === 'egnn' ? egnnDim(network) : network.dim;
  const spec: OnnxNetworkSpec = { dim, x: ONNX_INPUT_X, t: ONNX_INPUT_T, tRank: 2, output: ONNX_OUTPUT, timeScale: 1 };
  return onnxPredictor(checkedNetworkOnnxBytes(network, params), spec, opts);
}
