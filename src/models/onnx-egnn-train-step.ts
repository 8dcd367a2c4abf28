/**
 * The DSM training step of the EGNN score network (`egnn.ts`) as ONE ONNX inference graph for
 * onnxruntime-node, run by the same `OrtTrainer` as the MLP's (`onnx-train-step.ts`): forward,
 * backward, global-norm clipping, Adam and EMA, with the same inputs, outputs, loss and optimiser
 * (`onnx-step-graph.ts`), so that it agrees with the jax-js `JitTrainer` to float32 rounding.
 *
 * Why: on jax-js the EGNN step of the DW-4 network (3 layers x 128, 4 particles in 2-D) costs
 * ~270 ms at batch 256, while onnxruntime runs the same forward ~11x faster than jax-js (17.5 ms
 * against 199 ms, 1 thread); the DW-4 amortized trainer is bound by this step.
 *
 * How: the forward is the exported network's node list (`egnn-onnx.ts`, `egnnForwardNodes`),
 * with the weights as views of the flat `params` input (one Split, Reshapes, and a Split by
 * columns for the first layers of the edge and node MLPs, which the forward splits by input).
 * The backward is derived from those nodes by reverse-mode differentiation over the node list
 * (`core/onnx-autodiff.ts`), seeded at the network output with the loss gradient
 * `(2/(n d)) w . (out - target)`, and pulled back to `params` itself: the Splits' VJPs are
 * Concats, so the gradient comes out as one flat vector in the state's layout, ready for the
 * shared optimiser. The batch size stays symbolic (the autodiff tracks it), so one graph serves
 * every batch (the amortized trainer drops rows whose posterior estimate is not finite).
 */
import { int64Tensor, node } from '../core/onnx-graph.js';
import { vjpNodes } from '../core/onnx-autodiff.js';
import { checkEgnnConfig, egnnDim, egnnTensorSpecs, type EgnnConfig } from './egnn.js';
import { egnnForwardNodes } from './egnn-onnx.js';
import { dsmLossNodes, flatLayoutOf, optimiserNodes, paramViews, stepGraph, stepModelBytes } from './onnx-step-graph.js';
import type { TrainConfig } from './train.js';

/**
 * The ONNX bytes of one training step of the EGNN `cfg` under `train` (module comment).
 * `opts.gradientOutput`: also output the flat gradient as `grad_out` (for tests).
 */
export function egnnTrainStepOnnxBytes(cfg: EgnnConfig, train: TrainConfig, opts: { gradientOutput?: boolean } = {}): Uint8Array {
  checkEgnnConfig(cfg);
  const layout = flatLayoutOf(egnnTensorSpecs(cfg));
  const D = egnnDim(cfg);
  const { g, hyper } = stepGraph(train);
  const first = g.nodes.length; // the forward (with the parameter views) starts here
  const views = paramViews(g, layout);
  egnnForwardNodes(cfg, g, {
    tensor: (name) => views[name],
    columns(name, bounds, shapes) {
      // One Split along the input axis of the [out, in] weight; a [out] block is reshaped.
      const sizes = bounds.slice(1).map((b, k) => b - bounds[k]);
      const blocks = sizes.map((_, k) => `${name}.cols${k}`);
      g.initializer.push(int64Tensor(`split.${name}`, [sizes.length], sizes));
      g.nodes.push(node('Split', [views[name], `split.${name}`], blocks, { axis: 1 }));
      return blocks.map((b, k) => {
        if (shapes[k].length === 2) return b;
        g.initializer.push(int64Tensor(`shape.${b}`, [shapes[k].length], shapes[k]));
        return g.op('Reshape', [b, `shape.${b}`], `${b}.vec`);
      });
    },
  }, 'xt', 't', 'out');
  const forward = g.nodes.slice(first);
  const { loss, gradOut } = dsmLossNodes(g, 'out', hyper);
  const back = vjpNodes(
    { nodes: forward, initializer: g.initializer, inputs: { params: [layout.size], xt: ['n', D], t: ['n', 1] } },
    { out: gradOut },
    ['params'],
  );
  g.nodes.push(...back.nodes);
  g.initializer.push(...back.initializer);
  optimiserNodes(g, back.grads.params, loss, hyper, train);
  return stepModelBytes(g, 'tweedie_egnn_train_step', layout.size, D,
    `tweedie DSM training step (forward, backward by onnx-autodiff, clipping, Adam, EMA) of the EGNN ${cfg.layers} x ${cfg.hidden}, ${cfg.particles} particles in ${cfg.spaceDim}-D`,
    opts.gradientOutput ? back.grads.params : undefined);
}
