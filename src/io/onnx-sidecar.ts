/**
 * The JSON sidecar of an ONNX score network, `model.onnx.json` next to `model.onnx`: what an ONNX
 * graph cannot say about itself, i.e. how to read its output as a score and which diffusion it
 * was trained on. `tweedie export` writes it (and the same facts into the graph's
 * `metadata_props`); a user importing a PyTorch network writes one by hand:
 *
 * ```json
 * {
 *   "format": "tweedie-onnx-score", "version": 1,
 *   "dim": 2,
 *   "parametrisation": "noise",
 *   "time": "ddpm-index",
 *   "schedule": { "kind": "ddpm", "steps": 1000, "betaStart": 0.0001, "betaEnd": 0.02 },
 *   "inputs": { "x": "x", "t": "t" }, "output": "out",
 *   "data": { "normalisation": { "scale": 1, "shift": 0 } }
 * }
 * ```
 *
 *  - `parametrisation`: the network's output is the noise `eps`, the mean `E[x0 | xt]`, or the
 *    score (`diffusion/parametrisation.ts`).
 *  - `time`: the form of the time input. `continuous`: the network takes `t` in [0, 1] (this
 *    project's networks); `ddpm-index`: it takes `t * timeScale + timeOffset`, by default
 *    `999 t` (what Song et al.'s VP models feed). The samplers ask for the score at continuous
 *    `t`; a discrete DDPM chain of T steps asks at `t = i / T` for its step i = 1..T, so a PyTorch
 *    DDPM network trained on 0-based steps `k = i - 1` wants `"timeScale": T, "timeOffset": -1`.
 *  - `schedule`: the continuous VP SDE (`betaMin`, `betaMax`; Song et al. 2021) or a discrete DDPM
 *    schedule (linear betas; Ho et al. 2020), as in this project's model configs.
 *  - `inputs`/`output`: graph tensor names, `x`, `t` and the graph's only output by default. The
 *    graph takes `x` as float32 `[n, dim]` and `t` as float32 `[n, 1]` or `[n]`, and returns
 *    `[n, dim]`.
 *  - `data.normalisation`: samples are mapped back to data units as `x * scale + shift`;
 *    `data.source` (optional) names the training data, for metrics.
 */
import type { Parametrisation } from '../diffusion/parametrisation.js';
import { InputError } from './errors.js';
import type { Normalisation } from './training-data.js';

export const ONNX_SIDECAR_FORMAT = 'tweedie-onnx-score';

/** The diffusions an imported network may come from (those `tweedie sample` and `issgm` run). */
export type OnnxSchedule =
  | { kind: 'vp'; betaMin: number; betaMax: number }
  | { kind: 'ddpm'; steps: number; betaStart: number; betaEnd: number };

export const TIME_FORMS = ['continuous', 'ddpm-index'] as const;
export type TimeForm = (typeof TIME_FORMS)[number];

/** `t * 999`: DDPM's step index of a 1000-step chain at continuous time `t`. */
export const DEFAULT_DDPM_TIME_SCALE = 999;

export interface OnnxSidecar {
  format: typeof ONNX_SIDECAR_FORMAT;
  version: 1;
  /** Data dimension: the network maps `[n, dim]` to `[n, dim]`. */
  dim: number;
  parametrisation: Parametrisation;
  time: TimeForm;
  /** Multiplier of `t` for `time: 'ddpm-index'` [999]. */
  timeScale?: number;
  /** Added after scaling, for `time: 'ddpm-index'` [0]. */
  timeOffset?: number;
  schedule: OnnxSchedule;
  inputs?: { x?: string; t?: string };
  output?: string;
  data?: { source?: string; normalisation?: Normalisation };
  /** Informational: the architecture, when the file was exported by tweedie. */
  network?: unknown;
}

/** The sidecar's path for an ONNX file: `model.onnx` -> `model.onnx.json`. */
export function sidecarPath(onnxPath: string): string {
  return `${onnxPath}.json`;
}

/** The network sees `t * scale + offset`. */
export function timeMapOf(s: OnnxSidecar): { scale: number; offset: number } {
  return s.time === 'continuous' ? { scale: 1, offset: 0 } : { scale: s.timeScale ?? DEFAULT_DDPM_TIME_SCALE, offset: s.timeOffset ?? 0 };
}

const EXAMPLE = `{"format": "${ONNX_SIDECAR_FORMAT}", "version": 1, "dim": 2, "parametrisation": "noise", "time": "continuous", "schedule": {"kind": "vp", "betaMin": 0.1, "betaMax": 20}}`;

/** Validate a parsed sidecar; every problem is one InputError naming the field. */
export function checkOnnxSidecar(raw: unknown, source: string): OnnxSidecar {
  const fail = (what: string): never => {
    throw new InputError(`${source}: ${what} (a sidecar looks like ${EXAMPLE})`);
  };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('the sidecar must be a JSON object');
  const s = raw as Record<string, unknown>;
  if (s.format !== ONNX_SIDECAR_FORMAT) fail(`"format" must be "${ONNX_SIDECAR_FORMAT}", got ${JSON.stringify(s.format)}`);
  if (s.version !== 1) fail(`"version" must be 1, got ${JSON.stringify(s.version)}`);
  if (!Number.isInteger(s.dim) || (s.dim as number) < 1) fail(`"dim" must be a positive integer, got ${JSON.stringify(s.dim)}`);
  if (!['noise', 'mean', 'score'].includes(s.parametrisation as string)) {
    fail(`"parametrisation" must be "noise", "mean" or "score", got ${JSON.stringify(s.parametrisation)}`);
  }
  if (!(TIME_FORMS as readonly unknown[]).includes(s.time)) fail(`"time" must be one of ${TIME_FORMS.map((f) => `"${f}"`).join(', ')}, got ${JSON.stringify(s.time)}`);
  if (s.timeScale !== undefined) {
    if (s.time !== 'ddpm-index') fail('"timeScale" applies to "time": "ddpm-index" only');
    if (typeof s.timeScale !== 'number' || !(s.timeScale > 0) || !Number.isFinite(s.timeScale)) fail(`"timeScale" must be a positive number, got ${JSON.stringify(s.timeScale)}`);
  }
  if (s.timeOffset !== undefined) {
    if (s.time !== 'ddpm-index') fail('"timeOffset" applies to "time": "ddpm-index" only');
    if (typeof s.timeOffset !== 'number' || !Number.isFinite(s.timeOffset)) fail(`"timeOffset" must be a number, got ${JSON.stringify(s.timeOffset)}`);
  }
  const sch = s.schedule as Record<string, unknown> | undefined;
  const pos = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v) && v > 0;
  if (typeof sch !== 'object' || sch === null) fail('"schedule" is missing');
  else if (sch.kind === 'vp') {
    if (!pos(sch.betaMin) || !pos(sch.betaMax) || (sch.betaMin as number) > (sch.betaMax as number)) {
      fail(`a "vp" schedule needs 0 < betaMin <= betaMax, got ${JSON.stringify(sch)}`);
    }
  } else if (sch.kind === 'ddpm') {
    if (!Number.isInteger(sch.steps) || (sch.steps as number) < 1) fail(`a "ddpm" schedule needs an integer "steps" >= 1, got ${JSON.stringify(sch.steps)}`);
    if (!pos(sch.betaStart) || !pos(sch.betaEnd) || (sch.betaEnd as number) >= 1) fail(`a "ddpm" schedule needs 0 < betaStart, betaEnd < 1, got ${JSON.stringify(sch)}`);
  } else fail(`"schedule.kind" must be "vp" or "ddpm", got ${JSON.stringify(sch.kind)}`);
  const inputs = s.inputs as Record<string, unknown> | undefined;
  if (inputs !== undefined) {
    if (typeof inputs !== 'object' || inputs === null) fail('"inputs" must be an object {"x": NAME, "t": NAME}');
    for (const k of ['x', 't']) if (inputs[k] !== undefined && typeof inputs[k] !== 'string') fail(`"inputs.${k}" must be a string`);
  }
  if (s.output !== undefined && typeof s.output !== 'string') fail('"output" must be a string');
  const data = s.data as Record<string, unknown> | undefined;
  if (data !== undefined) {
    if (typeof data !== 'object' || data === null) fail('"data" must be an object');
    if (data.source !== undefined && typeof data.source !== 'string') fail('"data.source" must be a string');
    const nrm = data.normalisation as Record<string, unknown> | undefined;
    if (nrm !== undefined) {
      const ok = typeof nrm === 'object' && nrm !== null && typeof nrm.scale === 'number' && Number.isFinite(nrm.scale) && nrm.scale !== 0 &&
        typeof nrm.shift === 'number' && Number.isFinite(nrm.shift);
      if (!ok) fail(`"data.normalisation" must be {"scale": nonzero number, "shift": number}, got ${JSON.stringify(nrm)}`);
    }
  }
  return s as unknown as OnnxSidecar;
}

/** Parse and validate sidecar text. */
export function parseOnnxSidecar(text: string, source: string): OnnxSidecar {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new InputError(`${source}: not valid JSON (${(e as Error).message})`);
  }
  return checkOnnxSidecar(raw, source);
}
