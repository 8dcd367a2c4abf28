/**
 * What the trainer, the checkpoints and the score-model adapters need to know about a score
 * network, whatever its architecture: its parameter tensors (names and PyTorch-layout shapes), a
 * deterministic init, the fixed tensors its forward needs (time-embedding frequencies), and the
 * forward on engine arrays. Two architectures: the MLP (`mlp.ts`) and the EGNN (`egnn.ts`).
 *
 * A network is described by plain data, `NetworkConfig` (`{ kind: 'mlp', ...MlpConfig }` or
 * `{ kind: 'egnn', ...EgnnConfig }`), which is what checkpoints record in their metadata
 * (`io/checkpoint.ts`, `model.network`); a bare `MlpConfig` (no `kind`) still means the MLP, so
 * every existing call site and MLP checkpoint keeps working. `architecture(spec)` turns either
 * into an `Architecture`.
 *
 * Engine layout (what `apply` takes): every parameter tensor by name, 2-D weights transposed to
 * `[in, out]` (`layers.ts`, `toEngineWeights`), plus the fixed tensors of `buffers()` by their
 * own names.
 */
import type { JaxArray } from '../core/engine.js';
import { arrayF32 } from '../core/engine.js';
import type { Key } from '../core/key.js';
import { checkEgnnConfig, egnnApply, egnnBuffers, egnnDim, egnnTensorSpecs, initEgnn, type EgnnConfig } from './egnn.js';
import { embeddingFrequencies } from './embedding.js';
import { TIME_FREQS, toEngineWeights, type EngineWeights, type TensorSpec } from './layers.js';
import { checkMlpConfig, initMlp, mlpApply, mlpScales, mlpTensorSpecs, type MlpConfig } from './mlp.js';
import type { Tensors } from './tensors.js';

export type { EngineWeights, TensorSpec } from './layers.js';

/** A network as recorded in a checkpoint: the architecture's kind and its config. */
export type NetworkConfig = ({ kind: 'mlp' } & MlpConfig) | ({ kind: 'egnn' } & EgnnConfig);

/** What the training and model functions accept: a `NetworkConfig`, or a bare `MlpConfig` (the MLP). */
export type NetworkSpec = MlpConfig | NetworkConfig;

export const NETWORK_KINDS = ['mlp', 'egnn'] as const;

export interface Architecture {
  readonly kind: NetworkConfig['kind'];
  /** The config with its kind, as checkpoints record it. */
  readonly config: NetworkConfig;
  /** Data dimension (input and output, flattened). */
  readonly dim: number;
  /** A short description for messages, e.g. `MLP 3 x 128, dim 2`. */
  describe(): string;
  /** Trained tensors, PyTorch layout, in a fixed order. */
  tensorSpecs(): TensorSpec[];
  /** Deterministic initialisation from `key`. */
  init(key: Key): Tensors;
  /** Fixed tensors `apply` needs besides the trained ones (derived from the config, never stored). */
  buffers(): Tensors;
  /**
   * The forward on engine arrays, inside traced functions: `p` holds the trained tensors (engine
   * layout) and the buffers by name; `x` `[n, dim]`, `t` `[n, 1]` or `[1, 1]`; returns
   * `[n, dim]`. Non-consuming.
   */
  apply(p: EngineWeights, x: JaxArray, t: JaxArray): JaxArray;
}

/** The tagged config of `spec` (a bare `MlpConfig` becomes `{ kind: 'mlp', ... }`); validates it. */
export function networkConfig(spec: NetworkSpec): NetworkConfig {
  if (!('kind' in spec) || spec.kind === undefined) {
    checkMlpConfig(spec);
    return { kind: 'mlp', ...spec };
  }
  if (spec.kind === 'mlp') checkMlpConfig(spec);
  else if (spec.kind === 'egnn') checkEgnnConfig(spec);
  else throw new RangeError(`unknown network kind '${String((spec as { kind: unknown }).kind)}' (expected one of ${NETWORK_KINDS.join(', ')})`);
  return { ...spec };
}

function timeFreqs(embDim: number): Tensors {
  const f = embeddingFrequencies(embDim);
  return { [TIME_FREQS]: { shape: [1, f.length], data: Float32Array.from(f) } };
}

function mlpArchitecture(cfg: { kind: 'mlp' } & MlpConfig): Architecture {
  const specs = mlpTensorSpecs(cfg);
  const L = cfg.depth;
  return {
    kind: 'mlp',
    config: cfg,
    dim: cfg.dim,
    describe: () => `MLP ${cfg.depth} x ${cfg.hidden}, dim ${cfg.dim}`,
    tensorSpecs: () => specs.map((s) => ({ name: s.name, shape: [...s.shape] })),
    init: (key) => initMlp(key, cfg),
    buffers: () => timeFreqs(cfg.embDim),
    apply(p, x, t) {
      const w: JaxArray[] = [];
      const b: JaxArray[] = [];
      for (let l = 0; l <= L; l++) {
        w.push(p[`layers.${l}.weight`]);
        b.push(p[`layers.${l}.bias`]);
      }
      return mlpApply({ w, b }, p[TIME_FREQS], x, t, mlpScales(cfg));
    },
  };
}

function egnnArchitecture(cfg: { kind: 'egnn' } & EgnnConfig): Architecture {
  const specs = egnnTensorSpecs(cfg);
  return {
    kind: 'egnn',
    config: cfg,
    dim: egnnDim(cfg),
    describe: () => `EGNN ${cfg.layers} x ${cfg.hidden}, ${cfg.particles} particles in ${cfg.spaceDim}-D`,
    tensorSpecs: () => specs.map((s) => ({ name: s.name, shape: [...s.shape] })),
    init: (key) => initEgnn(key, cfg),
    buffers: () => egnnBuffers(cfg),
    apply: (p, x, t) => egnnApply(cfg, p, x, t),
  };
}

/** The architecture of `spec` (validated). */
export function architecture(spec: NetworkSpec): Architecture {
  const cfg = networkConfig(spec);
  return cfg.kind === 'egnn' ? egnnArchitecture(cfg) : mlpArchitecture(cfg);
}

/** The buffers as engine arrays. Needs a started engine. */
export function engineBuffers(arch: Architecture): EngineWeights {
  const out: EngineWeights = {};
  for (const [name, v] of Object.entries(arch.buffers())) out[name] = arrayF32(v.data, v.shape);
  return out;
}

/**
 * Trained tensors (checked against the specs) and buffers: the engine arrays `apply` takes.
 * Needs a started engine.
 */
export function engineWeights(arch: Architecture, params: Tensors): EngineWeights {
  return { ...toEngineWeights(arch.tensorSpecs(), params, `${arch.describe()} parameters`), ...engineBuffers(arch) };
}
