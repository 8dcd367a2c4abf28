/**
 * The library's public surface. `cli/` and `plot/` are not part of it (plots: `tweedie/plot`
 * later); the autodiff engine adapter is exported as `valueAndGrad`/`initEngine`/`np`.
 */
export * from './core/batch.js';
export * from './core/key.js';
export * from './core/types.js';
export { initEngine, engineReady, np, valueAndGrad, rowValues } from './core/engine.js';
export * from './targets/index.js';
export * from './diffusion/index.js';
export * from './metrics/index.js';
export * from './evaluate/compare.js';
export { InputError, isInputError } from './io/errors.js';
export { parseNpy, readNpy, readNpyBatch, encodeNpy, writeNpy, type NpyArray, type NpyDtype } from './io/npy.js';
export * from './issgm/index.js';
export * from './baselines/index.js';
export * from './mcmc/index.js';
export * from './amortized/index.js';
export { loadEnergyModule } from './io/energy-module.js';
export { loadWeightModule } from './io/weight-module.js';
export { loadOnnxWeight, parseOnnxWeightSpec, isOnnxWeightSpec, type OnnxLogWeight, type OnnxWeightMode, type OnnxWeightSpec, type OnnxWeightOptions } from './io/onnx-weight.js';
export { loadModel, loadCheckpoint, saveCheckpoint, type ModelConfig, type RunConfig } from './io/checkpoint.js';
export * from './models/mlp.js';
export * from './models/train.js';
export * from './models/architecture.js';
export * from './models/egnn.js';
// ONNX: export of our MLP, import of a user's score network (file + sidecar), the onnxruntime-node
// fast path (optional dependency; jax-js fallback with one warning).
export { mlpOnnxBytes, modelOnnxBytes, writeModelOnnx, exportedNetworkPredictor } from './io/onnx-export.js';
export { readOnnxScoreNetwork, loadOnnxPredictor, loadOnnxScoreModel, readOnnxGraph, type ImportedOnnxNetwork, type OnnxGraphInfo } from './io/onnx-import.js';
export { checkOnnxSidecar, parseOnnxSidecar, sidecarPath, type OnnxSidecar, type OnnxSchedule, type TimeForm } from './io/onnx-sidecar.js';
export { onnxPredictor, onnxScoreModel, ONNX_BACKENDS, type OnnxBackend, type OnnxPredictor, type OnnxPredictorOptions, type OnnxNetworkSpec } from './models/onnx-predictor.js';
export { onnxRuntimeAvailable } from './core/onnx-runtime.js';
// The MLP's and the EGNN's training steps as one ONNX graph each on onnxruntime (also
// `createTrainer(..., { engine })`); the EGNN's backward by reverse-mode autodiff over ONNX nodes.
export { createOrtTrainer, mlpTrainStepOnnxBytes, OrtTrainer, type OrtTrainerOptions } from './models/onnx-train-step.js';
export { egnnTrainStepOnnxBytes } from './models/onnx-egnn-train-step.js';
export { vjpNodes, inferShapes, type VjpGraph, type ShapeSpec } from './core/onnx-autodiff.js';
