/**
 * Targets and datasets by name, for the CLI and the benchmark scenarios. A plain map, no
 * decorators: the list of names is visible in one place and in every error message.
 */
import type { NoiseSchedule, SampleableTarget, ScoreModel, Target } from '../core/types.js';
import type { DatasetSampler } from './dataset.js';
import { dw4 } from './dw4.js';
import type { GaussianMixture } from './gmm.js';
import { gmm40 } from './gmm40.js';
import { checkerboard, circles, eightGaussians, moons, pinwheel, twoSpirals } from './toy/index.js';

const SAMPLEABLE: Readonly<Record<string, () => DatasetSampler | SampleableTarget>> = {
  circles: () => circles(),
  '2spirals': () => twoSpirals(),
  pinwheel: () => pinwheel(),
  '8gaussians': () => eightGaussians(),
  moons: () => moons(),
  checkerboard: () => checkerboard(),
  gmm40: () => gmm40(2),
  'gmm40-5d': () => gmm40(5),
};

/** Targets with an exact diffused score (Gaussian mixtures). */
const MIXTURES: Readonly<Record<string, () => GaussianMixture>> = {
  '8gaussians': () => eightGaussians(),
  gmm40: () => gmm40(2),
  'gmm40-5d': () => gmm40(5),
};

const TARGETS: Readonly<Record<string, () => Target>> = {
  ...MIXTURES,
  dw4: () => dw4(),
};

function lookup<T>(table: Readonly<Record<string, () => T>>, name: string, what: string): T {
  const make = Object.prototype.hasOwnProperty.call(table, name) ? table[name] : undefined;
  if (make === undefined) {
    throw new Error(`unknown ${what} '${name}'; valid names: ${Object.keys(table).join(', ')}`);
  }
  return make();
}

/** Names accepted by `getSampleable`. */
export function sampleableTargetNames(): string[] {
  return Object.keys(SAMPLEABLE);
}

/** Names accepted by `getTarget` (targets with a density). */
export function targetNames(): string[] {
  return Object.keys(TARGETS);
}

/** Names accepted by `exactScoreModel` and `getMixture`. */
export function exactScoreNames(): string[] {
  return Object.keys(MIXTURES);
}

/** A dataset or exactly sampleable target by name (a new instance each call). */
export function getSampleable(name: string): DatasetSampler | SampleableTarget {
  return lookup(SAMPLEABLE, name, 'sampleable target');
}

/** A target with a (possibly unnormalised) log-density by name. */
export function getTarget(name: string): Target {
  return lookup(TARGETS, name, 'target');
}

/** A Gaussian-mixture target by name (for its exact posterior mean, tilt, diffusion). */
export function getMixture(name: string): GaussianMixture {
  return lookup(MIXTURES, name, 'target with an exact diffused score');
}

/** The exact diffused score `grad log p_t` of a named target under `schedule`. */
export function exactScoreModel(name: string, schedule: NoiseSchedule): ScoreModel {
  return getMixture(name).diffusedScore(schedule);
}
