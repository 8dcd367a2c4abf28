/**
 * The EGNN forward (`egnn.ts`, `egnnApply`) as a list of ONNX nodes, written into a graph under
 * construction. Two graphs use it: the exported network (`io/onnx-export.ts`, `egnnOnnxBytes`:
 * the weights are initializers) and the onnxruntime training step
 * (`onnx-egnn-train-step.ts`: the weights are views of one flat parameter vector, and the
 * backward is derived from these very nodes by `core/onnx-autodiff.ts`). How a graph supplies
 * the weights is the `EgnnOnnxWeights` callback pair; everything else is shared, so the two
 * cannot drift apart.
 *
 * The graph (ops: Reshape, Gather, Unsqueeze, Gemm, Sigmoid, Mul, Add, Sub, Div, Sqrt, ReduceSum,
 * Sin, Cos, Concat):
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
 * input since 13, one convention for every reduction here).
 */
import type { NodeProto, TensorProto } from 'onnx-buf';
import { floatTensor, int64Tensor, node } from '../core/onnx-graph.js';
import { checkEgnnConfig, egnnDim, type EgnnConfig } from './egnn.js';
import { embeddingFrequencies } from './embedding.js';

/** A graph under construction: its nodes and initializers, appended to in order. */
export interface OnnxGraphParts {
  nodes: NodeProto[];
  initializer: TensorProto[];
}

/** How the forward reads the trained tensors (names as in `egnnTensorSpecs`, PyTorch layout). */
export interface EgnnOnnxWeights {
  /** The value holding tensor `name` in its spec shape. */
  tensor(name: string): string;
  /**
   * The column blocks `[bounds[k], bounds[k + 1])` of the 2-D weight `name` (`[out, in]`): one
   * value per block, of shape `shapes[k]` (`[out, width]`, or `[out]` for a single column used
   * as a broadcast vector).
   */
  columns(name: string, bounds: number[], shapes: number[][]): string[];
}

/** `|d| = sqrt(d^2 + DIST_EPS)`, as `egnn.ts` (a finite derivative at coincident particles). */
const DIST_EPS = 1e-8;

/**
 * Append the EGNN forward of `cfg` to `g`: input values `x` `[n, P s]` and `t` `[n, 1]`, output
 * value `out` `[n, P s]` (module comment). Intermediate values are named `<op>_<k>` and, where
 * they matter for reading the graph, by layer (`layers.<l>.diff`, ...).
 */
export function egnnForwardNodes(cfg: EgnnConfig, g: OnnxGraphParts, w: EgnnOnnxWeights, x: string, t: string, out: string): void {
  checkEgnnConfig(cfg);
  const { particles: P, spaceDim: s, hidden: H, layers: L } = cfg;
  const E = P - 1;
  const D = egnnDim(cfg);
  const freqs = embeddingFrequencies(cfg.embDim);
  const initializer = g.initializer;
  initializer.push(floatTensor('time_embedding.freqs', [1, freqs.length], Float32Array.from(freqs)));
  const embW = w.tensor('embedding.weight');
  const embB = w.tensor('embedding.bias');
  initializer.push(
    floatTensor('const.dist_eps', [1], [DIST_EPS]),
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
  );
  let uid = 0;
  const fresh = (base: string): string => `${base}_${uid++}`;
  const op = (type: string, inputs: string[], ints: Record<string, number> = {}, o = fresh(type.toLowerCase())): string => {
    g.nodes.push(node(type, inputs, [o], ints));
    return o;
  };
  const silu = (z: string): string => op('Mul', [z, op('Sigmoid', [z])]);
  /** `a` viewed as rows `[-1, H]`, through Gemm with a PyTorch-layout weight, viewed as `shape`. */
  const linear = (a: string, weight: string, bias: string | undefined, shape?: string): string => {
    const y = op('Gemm', [op('Reshape', [a, 'shape.rows']), weight, ...(bias ? [bias] : [])], { transB: 1 });
    return shape ? op('Reshape', [y, shape]) : y;
  };

  const x3 = op('Reshape', [x, 'shape.particles'], {}, 'x_particles');
  const phase = op('Mul', [t, 'time_embedding.freqs'], {}, 'phase');
  const emb = op('Concat', [op('Sin', [phase]), op('Cos', [phase])], { axis: 1 }, 'emb');
  let h = op('Unsqueeze', [op('Gemm', [emb, embW, embB], { transB: 1 }), 'axes.1'], {}, 'h0'); // [n, 1, H]
  let hShape = 'shape.node1';
  let xl = x3;
  for (let l = 0; l < L; l++) {
    const pre = `layers.${l}`;
    const param = (name: string): string => w.tensor(`${pre}.${name}`);
    const [wA, wB, wC] = w.columns(`${pre}.edge_mlp.0.weight`, [0, H, 2 * H, 2 * H + 1], [[H, H], [H, H], [H]]);
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
      const [wH, wM] = w.columns(`${pre}.node_mlp.0.weight`, [0, H, 2 * H], [[H, H], [H, H]]);
      const mi = op('ReduceSum', [op('Reshape', [m, 'shape.edgesH']), 'axes.2'], { keepdims: 0 }); // [n, P, H]
      const zh = op('Add', [linear(h, wH, param('node_mlp.0.bias'), hShape), linear(mi, wM, undefined, 'shape.nodes')]); // [n, P, H]
      h = op('Add', [h, linear(silu(zh), param('node_mlp.2.weight'), param('node_mlp.2.bias'), 'shape.nodes')], {}, `${pre}.h`);
      hShape = 'shape.nodes';
    }
  }
  const y = cfg.output === 'position' ? xl : op('Sub', [xl, x3], {}, 'displacement');
  const com = op('Mul', [op('ReduceSum', [y, 'axes.1'], { keepdims: 1 }), 'const.inv_particles'], {}, 'centre_of_mass');
  op('Reshape', [op('Sub', [y, com]), 'shape.out'], {}, out);
}
