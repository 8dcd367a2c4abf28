/**
 * Worker-thread entry of `worker-pool.ts`: solves chunks of posterior problems for a target given
 * by name (built-in) or module path, loaded once per thread.
 */
import type { Target } from '../core/types.js';
import { loadEnergyModule } from '../io/energy-module.js';
import { getTarget } from '../targets/registry.js';
import { runChunk, type ChunkResult, type ChunkTask } from './posterior-means.js';

let cached: { spec: string; target: Target } | undefined;

async function targetFor(spec: string): Promise<Target> {
  if (cached?.spec !== spec) {
    const target = /\.(m?js)$/.test(spec) ? await loadEnergyModule(spec) : getTarget(spec);
    cached = { spec, target };
  }
  return cached.target;
}

export default async function solve(task: ChunkTask & { target: string }): Promise<ChunkResult> {
  return runChunk(await targetFor(task.target), task);
}
