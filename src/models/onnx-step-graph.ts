/**
 * The parts every onnxruntime training-step graph shares (`onnx-train-step.ts` for the MLP,
 * `onnx-egnn-train-step.ts` for the EGNN): the flat state layout, the per-step scalars, the DSM
 * loss with its gradient at the network output, and the optimiser (global-norm clipping, Adam,
 * EMA), written as ONNX nodes exactly as the jax-js step computes them (`train.ts`, `adam.ts`,
 * `ema.ts`). Only the network's forward and backward differ between the architectures.
 *
 *   inputs   params, adam_m, adam_v, ema  [P]   the state, each one flat vector (`FlatLayout`)
 *            xt [n, d], t [n, 1], target [n, d], w [n, 1], hyper [7]
 *   loss     r = out - target;  loss = (1/(n d)) sum_i w_i |r_i|^2;  dloss/dout = (2/(n d)) w . r
 *   optimiser
 *            g = the flat gradient;  |g| = sqrt(sum g^2)
 *            g <- g c,  c = clip / max(|g|, clip)                    (clipping off: c = 1)
 *            m' = b1 m + (1 - b1) g;  v' = b2 v + (1 - b2) g^2
 *            p' = p - lr (m' c1) / (sqrt(v' c2) + eps);  ema' = d ema + (1 - d) p'
 *   outputs  params_out, adam_m_out, adam_v_out, ema_out [P];  stats [2] = (loss, |g|)
 *
 * hyper = [lr, c1, c2, d, 1 - d, 1/(n d), 2/(n d)]: the per-step scalars, computed in float64 on
 * the TS side exactly as `JitTrainer.stepPrepared` does (`learningRate`, `adamBiasCorrections`,
 * `emaDecayAt`), so the schedules are shared code, not re-derived in the graph.
 */
import { create } from '@bufbuild/protobuf';
import { GraphProtoSchema, type NodeProto, type TensorProto } from 'onnx-buf';
import { floatTensor, floatValue, int64Tensor, modelProtoBytes, node } from '../core/onnx-graph.js';
import type { TensorSpec } from './layers.js';
import type { TrainConfig } from './train.js';
import type { Tensors } from './tensors.js';

/** Names of the graph's state inputs and outputs. */
export const STATE_IN = ['params', 'adam_m', 'adam_v', 'ema'] as const;
export const STATE_OUT = ['params_out', 'adam_m_out', 'adam_v_out', 'ema_out'] as const;
export const HYPER_SIZE = 7;

/**
 * Where each parameter tensor lives in the flat vector: the tensors in spec order, each in
 * PyTorch layout, laid end to end; one vector per state part, so that the optimiser is 18
 * elementwise ops over one vector rather than 18 per tensor, and a snapshot is plain slices.
 */
export interface FlatLayout {
  size: number;
  leaves: { name: string; shape: number[]; offset: number; size: number }[];
}

export function flatLayoutOf(specs: readonly TensorSpec[]): FlatLayout {
  let offset = 0;
  const leaves = specs.map((s) => {
    const size = s.shape.reduce((a, b) => a * b, 1);
    const leaf = { name: s.name, shape: [...s.shape], offset, size };
    offset += size;
    return leaf;
  });
  return { size: offset, leaves };
}

export function flattenTensors(layout: FlatLayout, t: Tensors, out: Float32Array): void {
  for (const l of layout.leaves) out.set(t[l.name].data, l.offset);
}

export function unflattenTensors(layout: FlatLayout, flat: Float32Array): Tensors {
  const out: Tensors = {};
  for (const l of layout.leaves) out[l.name] = { shape: [...l.shape], data: flat.slice(l.offset, l.offset + l.size) };
  return out;
}

/** A training-step graph under construction. */
export interface StepGraph {
  nodes: NodeProto[];
  initializer: TensorProto[];
  /** Append a one-output node; returns `out`. */
  op(type: string, inputs: string[], out: string, ints?: Record<string, number>): string;
}

/** The per-step scalars, one `[1]` value each (from the `hyper` input). */
export interface StepHyper {
  lr: string;
  c1: string;
  c2: string;
  decay: string;
  oneMinusDecay: string;
  invNd: string;
  twoInvNd: string;
}

/**
 * A new step graph with `hyper` split into its scalars and the optimiser's constants (betas,
 * eps, clip threshold) as `[1]` float32 initializers (broadcast against anything). `1 - beta` is
 * rounded to float32 from float64, as the jax-js step's `np.multiply(g, 1 - beta1)` does.
 */
export function stepGraph(train: TrainConfig): { g: StepGraph; hyper: StepHyper } {
  const { beta1, beta2, eps } = train.adam;
  const scalars: Record<string, number> = {
    'c.b1': beta1, 'c.1mb1': 1 - beta1, 'c.b2': beta2, 'c.1mb2': 1 - beta2, 'c.eps': eps,
    ...(clippingOn(train) ? { 'c.clip': train.clipNorm } : {}),
  };
  const g: StepGraph = {
    nodes: [],
    initializer: [...Object.entries(scalars).map(([name, v]) => floatTensor(name, [1], [v])), int64Tensor('shape.flat', [1], [-1])],
    op(type, inputs, out, ints = {}) {
      g.nodes.push(node(type, inputs, [out], ints));
      return out;
    },
  };
  const names = ['lr', 'c1', 'c2', 'decay', 'one_minus_decay', 'inv_nd', 'two_inv_nd'].map((h) => `hyper.${h}`);
  g.nodes.push(node('Split', ['hyper'], names, { axis: 0 }));
  const [lr, c1, c2, decay, oneMinusDecay, invNd, twoInvNd] = names;
  return { g, hyper: { lr, c1, c2, decay, oneMinusDecay, invNd, twoInvNd } };
}

function clippingOn(train: TrainConfig): boolean {
  return train.clipNorm > 0 && Number.isFinite(train.clipNorm);
}

/**
 * The parameters as views of the flat `params` input: one Split, then a Reshape for each tensor
 * of rank other than 1. Returns the view of each tensor by name.
 */
export function paramViews(g: StepGraph, layout: FlatLayout): Record<string, string> {
  g.initializer.push(int64Tensor('split.params', [layout.leaves.length], layout.leaves.map((l) => l.size)));
  const pieces = layout.leaves.map((l) => (l.shape.length === 1 ? l.name : `${l.name}.flat`));
  g.nodes.push(node('Split', ['params', 'split.params'], pieces, { axis: 0 }));
  const views: Record<string, string> = {};
  layout.leaves.forEach((l, i) => {
    if (l.shape.length === 1) {
      views[l.name] = pieces[i];
      return;
    }
    g.initializer.push(int64Tensor(`shape.${l.name}`, [l.shape.length], l.shape));
    views[l.name] = g.op('Reshape', [pieces[i], `shape.${l.name}`], l.name);
  });
  return views;
}

/** The loss of the network output `out` and its gradient there (module comment). */
export function dsmLossNodes(g: StepGraph, out: string, hyper: StepHyper): { loss: string; gradOut: string } {
  const { op } = g;
  const r = op('Sub', [out, 'target'], 'resid');
  const wr = op('Mul', [r, 'w'], 'w_resid');
  const lossSum = op('ReduceSum', [op('Mul', [wr, r], 'w_resid2')], 'loss_sum', { keepdims: 1 }); // [1, 1]
  const loss = op('Reshape', [op('Mul', [lossSum, hyper.invNd], 'loss_2d'), 'shape.flat'], 'loss'); // [1]
  return { loss, gradOut: op('Mul', [wr, hyper.twoInvNd], 'grad.out') };
}

/** Global norm, clipping, Adam and EMA on the flat gradient `grad`; writes the graph's outputs. */
export function optimiserNodes(g: StepGraph, grad: string, loss: string, hyper: StepHyper, train: TrainConfig): void {
  const { op } = g;
  const gnorm = op('Sqrt', [op('ReduceSumSquare', [grad], 'grad_sq', { keepdims: 1 })], 'grad_norm'); // [1]
  op('Concat', [loss, gnorm], 'stats', { axis: 0 });
  const gc = clippingOn(train)
    ? op('Mul', [grad, op('Div', ['c.clip', op('Max', [gnorm, 'c.clip'], 'clip_den')], 'clip_factor')], 'grad_clipped')
    : grad;
  // Adam (adam.ts: m' = b1 m + (1-b1) g; v' = b2 v + (1-b2) g^2; p' = p - lr (m' c1) / (sqrt(v' c2) + eps)).
  const m2 = op('Add', [op('Mul', ['adam_m', 'c.b1'], 'm_b1'), op('Mul', [gc, 'c.1mb1'], 'm_g')], 'adam_m_out');
  const v2 = op('Add', [op('Mul', ['adam_v', 'c.b2'], 'v_b2'), op('Mul', [op('Mul', [gc, gc], 'g2'), 'c.1mb2'], 'v_g')], 'adam_v_out');
  const den = op('Add', [op('Sqrt', [op('Mul', [v2, hyper.c2], 'v_hat')], 'sqrt_v_hat'), 'c.eps'], 'adam_den');
  const upd = op('Mul', [hyper.lr, op('Div', [op('Mul', [m2, hyper.c1], 'm_hat'), den], 'adam_dir')], 'adam_step');
  const p2 = op('Sub', ['params', upd], 'params_out');
  // EMA (ema.ts: d ema + (1 - d) p').
  op('Add', [op('Mul', ['ema', hyper.decay], 'ema_d'), op('Mul', [p2, hyper.oneMinusDecay], 'ema_p')], 'ema_out');
}

/**
 * The finished step graph as ONNX bytes: state size `P`, data dimension `dim`, `n` symbolic.
 * `gradient`: also output the flat gradient (before clipping) as `grad` [P], for tests.
 */
export function stepModelBytes(g: StepGraph, name: string, P: number, dim: number, doc: string, gradient?: string): Uint8Array {
  if (gradient !== undefined) g.op('Identity', [gradient], 'grad_out');
  // Only the initializers some node reads: the builders add shape constants the backward may not
  // need, and onnxruntime logs a warning per unused one on every session it creates.
  const used = new Set(g.nodes.flatMap((n) => n.input));
  const graph = create(GraphProtoSchema, {
    name,
    node: g.nodes,
    initializer: g.initializer.filter((t) => used.has(t.name)),
    input: [
      ...STATE_IN.map((s) => floatValue(s, [P])),
      floatValue('xt', ['n', dim]), floatValue('t', ['n', 1]), floatValue('target', ['n', dim]), floatValue('w', ['n', 1]),
      floatValue('hyper', [HYPER_SIZE]),
    ],
    output: [...STATE_OUT.map((s) => floatValue(s, [P])), floatValue('stats', [2]), ...(gradient !== undefined ? [floatValue('grad_out', [P])] : [])],
  });
  return modelProtoBytes(graph, doc);
}
