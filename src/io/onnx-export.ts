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
import { floatTensor, floatValue, int64Tensor, modelProtoBytes, node } from '../core/onnx-graph.js';
import type { NetworkConfig } from '../models/architecture.js';
import { checkEgnnConfig, egnnDim, egnnTensorSpecs, type EgnnConfig } from '../models/egnn.js';
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
 * Gemm, Sigmoid, Mul, Add, Sub, Div, Sqrt, ReduceSum, Sin, Cos, Concat):
 *
 *   x3    = Reshape(x, [-1, P, s]);  h = Unsqueeze(Gemm(emb(t), W_emb, b_emb), 1)   [n, 1, H]
 *   per layer l (edges j != i as Gather(a, NB, axis 1), NB[i][k-1] = (i + k) mod P, the
 *   neighbour order of egnn.ts, so both sum the edges in the same order):
 *     diff = Unsqueeze(x, 2) - Gather(x, NB)            [n, P, P-1, s];  d2 = ReduceSum(diff^2, -1)
 *     z    = (h W_a^T + b) broadcast to i + (h W_b^T)[j] + d2 w_c      (edge_mlp.0 split by input)
 *     m    = silu(Gemm(silu(z), edge_mlp.2))           as [n P (P-1), H] rows
 *     x   += (1/(P-1)) ReduceSum(diff phi_x(m) / (sqrt(d2 + 1e-8) + 1), axis 2)
 *     h   += Gemm(silu(h W_ha^T + b + (ReduceSum(m, 2)) W_hb^T), node_mlp.2)    (l < L - 1)
 *   out   = Reshape(y - ReduceSum(y, 1) / P, [-1, P s]),  y = x^L or x^L - x3
 *
 * Why this form: the edge MLP's first layer is split by input as in `egnnApply` (node products
 * on n P rows, not n P (P-1) rows of 2H + 1); the neighbours are one Gather of a constant index
 * table (the particle count is fixed by the config); every linear layer is a 2-D Gemm between
 * Reshapes (onnxruntime's fused bias; @jax-js/onnx's matmul of 2-D operands); h stays
 * `[n, 1, H]` until the first node update, since all particles start from the same features;
 * no ReduceMean (its axes are an attribute at opset 17, an input at 18: ReduceSum's are an
 * input since 13, one convention for every reduction here). Split first-layer weights are
 * stored as their own initializers (`<layer>.weight.h_i` etc., PyTorch `[out, in]` layout).
 */
export function egnnOnnxBytes(cfg: EgnnConfig, params: Tensors, metadata: Record<string, string> = {}): Uint8Array {
  checkEgnnConfig(cfg);
  const specs = egnnTensorSpecs(cfg);
  checkTensors(params, specs, 'EGNN parameters');
  const { particles: P, spaceDim: s, hidden: H, layers: L } = cfg;
  const E = P - 1;
  const D = egnnDim(cfg);
  const freqs = embeddingFrequencies(cfg.embDim);
  const initializer: TensorProto[] = [
    floatTensor('time_embedding.freqs', [1, freqs.length], Float32Array.from(freqs)),
    floatTensor('embedding.weight', [H, cfg.embDim], params['embedding.weight'].data),
    floatTensor('embedding.bias', [H], params['embedding.bias'].data),
    floatTensor('const.dist_eps', [1], [1e-8]),
    floatTensor('const.one', [1], [1]),
    floatTensor('const.inv_edges', [1], [1 / E]),
    floatTensor('const.inv_particles', [1], [1 / P]),
    int64Tensor('const.neighbours', [P, E], Array.from({ length: P * E }, (_, q) => (Math.floor(q / E) + (q % E) + 1) % P)),
    int64Tensor('axes.1', [1], [1]),
    int64Tensor('axes.2', [1], [2]),
    int64Tensor('axes.last', [1], [-1]),
    int64Tensor('shape.particles', [3], [-1, P, s]),
    int64Tensor('shape.out', [2], [-1, D]),
    int64Tensor('shape.rows', [2], [-1, H]),
    int64Tensor('shape.node1', [3], [-1, 1, H]),
    int64Tensor('shape.nodes', [3], [-1, P, H]),
    int64Tensor('shape.edges1', [4], [-1, P, E, 1]),
    int64Tensor('shape.edgesH', [4], [-1, P, E, H]),
  ];
  // Columns [c0, c1) of a PyTorch-layout weight [out, in]: the part of a layer acting on one
  // piece of its concatenated input.
  const columns = (name: string, c0: number, c1: number): Float32Array => {
    const w = params[name];
    const [fout, fin] = w.shape;
    const o = new Float32Array(fout * (c1 - c0));
    for (let r = 0; r < fout; r++) o.set(w.data.subarray(r * fin + c0, r * fin + c1), r * (c1 - c0));
    return o;
  };
  const nodes: NodeProto[] = [];
  let uid = 0;
  const fresh = (base: string): string => `${base}_${uid++}`;
  const op = (type: string, inputs: string[], ints: Record<string, number> = {}, out = fresh(type.toLowerCase())): string => {
    nodes.push(node(type, inputs, [out], ints));
    return out;
  };
  const silu = (z: string): string => op('Mul', [z, op('Sigmoid', [z])]);
  /** `a` viewed as rows `[-1, H]`, through Gemm with a PyTorch-layout weight, viewed as `shape`. */
  const linear = (a: string, weight: string, bias: string | undefined, shape?: string): string => {
    const y = op('Gemm', [op('Reshape', [a, 'shape.rows']), weight, ...(bias ? [bias] : [])], { transB: 1 });
    return shape ? op('Reshape', [y, shape]) : y;
  };

  const x3 = op('Reshape', [ONNX_INPUT_X, 'shape.particles'], {}, 'x_particles');
  const phase = op('Mul', [ONNX_INPUT_T, 'time_embedding.freqs'], {}, 'phase');
  const emb = op('Concat', [op('Sin', [phase]), op('Cos', [phase])], { axis: 1 }, 'emb');
  let h = op('Unsqueeze', [op('Gemm', [emb, 'embedding.weight', 'embedding.bias'], { transB: 1 }), 'axes.1'], {}, 'h0'); // [n, 1, H]
  let hShape = 'shape.node1';
  let xl = x3;
  for (let l = 0; l < L; l++) {
    const pre = `layers.${l}`;
    const wt = (name: string, shape: number[], data: Float32Array): string => {
      initializer.push(floatTensor(name, shape, data));
      return name;
    };
    const param = (name: string): string => wt(`${pre}.${name}`, params[`${pre}.${name}`].shape, params[`${pre}.${name}`].data);
    const e0 = `${pre}.edge_mlp.0.weight`;
    const wA = wt(`${e0}.h_i`, [H, H], columns(e0, 0, H));
    const wB = wt(`${e0}.h_j`, [H, H], columns(e0, H, 2 * H));
    const wC = wt(`${e0}.d2`, [H], columns(e0, 2 * H, 2 * H + 1));
    const b0 = param('edge_mlp.0.bias');

    const diff = op('Sub', [op('Unsqueeze', [xl, 'axes.2']), op('Gather', [xl, 'const.neighbours'], { axis: 1 })], {}, `${pre}.diff`); // [n, P, E, s]
    const d2 = op('ReduceSum', [op('Mul', [diff, diff]), 'axes.last'], { keepdims: 1 }, `${pre}.d2`); // [n, P, E, 1]
    const hi = linear(h, wA, b0, hShape); // [n, P|1, H]
    const hj = linear(h, wB, undefined, hShape);
    // Layer 0: h is one row per sample, so h_j = h_i's row and no gather is needed.
    const pair = l === 0 ? op('Unsqueeze', [op('Add', [hi, hj]), 'axes.2']) : op('Add', [op('Unsqueeze', [hi, 'axes.2']), op('Gather', [hj, 'const.neighbours'], { axis: 1 })]);
    const z = op('Add', [pair, op('Mul', [d2, wC])], {}, `${pre}.edge_z`); // [n, P, E, H]
    const m = silu(linear(silu(z), param('edge_mlp.2.weight'), param('edge_mlp.2.bias'))); // [n P E, H]
    const phiX = linear(silu(linear(m, param('coord_mlp.0.weight'), param('coord_mlp.0.bias'))), param('coord_mlp.2.weight'), undefined, 'shape.edges1');
    const scale = op('Div', [phiX, op('Add', [op('Sqrt', [op('Add', [d2, 'const.dist_eps'])]), 'const.one'])]);
    const upd = op('ReduceSum', [op('Mul', [diff, scale]), 'axes.2'], { keepdims: 0 });
    xl = op('Add', [xl, op('Mul', [upd, 'const.inv_edges'])], {}, `${pre}.x`);
    if (l < L - 1) {
      const n0 = `${pre}.node_mlp.0.weight`;
      const wH = wt(`${n0}.h`, [H, H], columns(n0, 0, H));
      const wM = wt(`${n0}.m`, [H, H], columns(n0, H, 2 * H));
      const mi = op('ReduceSum', [op('Reshape', [m, 'shape.edgesH']), 'axes.2'], { keepdims: 0 }); // [n, P, H]
      const zh = op('Add', [linear(h, wH, param('node_mlp.0.bias'), hShape), linear(mi, wM, undefined, 'shape.nodes')]); // [n, P, H]
      h = op('Add', [h, linear(silu(zh), param('node_mlp.2.weight'), param('node_mlp.2.bias'), 'shape.nodes')], {}, `${pre}.h`);
      hShape = 'shape.nodes';
    }
  }
  const y = cfg.output === 'position' ? xl : op('Sub', [xl, x3], {}, 'displacement');
  const com = op('Mul', [op('ReduceSum', [y, 'axes.1'], { keepdims: 1 }), 'const.inv_particles'], {}, 'centre_of_mass');
  op('Reshape', [op('Sub', [y, com]), 'shape.out'], {}, ONNX_OUTPUT);

  const graph = create(GraphProtoSchema, {
    name: 'tweedie_egnn',
    node: nodes,
    initializer,
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
