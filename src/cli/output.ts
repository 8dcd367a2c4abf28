/**
 * What every command writes next to its data: `result.json` with the metrics, the full config,
 * the seed, the package version, timings and the platform, so a run can be traced and repeated.
 */
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';

const require = createRequire(import.meta.url);
/** The package version, read from package.json (two levels up from both src/cli and dist/cli). */
export const VERSION: string = (require('../../package.json') as { version: string }).version;

export interface RunRecord {
  command: string;
  seed: number;
  config: Record<string, unknown>;
  metrics?: Record<string, unknown>;
  floor?: Record<string, unknown>;
  /** What an exact sampler scores where the reference sets are not symmetric (DW-4; `judgeSamples`). Undefined: not written. */
  symmetricFloor?: Record<string, unknown>;
  outputs?: Record<string, string>;
  timings: Record<string, number>;
  notes?: string[];
}

export function ensureOutDir(dir: string): string {
  mkdirSync(dir, { recursive: true });
  return dir;
}

export function writeResult(dir: string, record: RunRecord): string {
  const path = join(dir, 'result.json');
  const body = {
    tool: 'tweedie',
    version: VERSION,
    created: new Date().toISOString(),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    ...record,
  };
  writeFileAtomic(path, `${JSON.stringify(body, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v), 2)}\n`);
  return path;
}

/** Milliseconds-to-seconds stopwatch for the `timings` record. */
export function stopwatch(): () => number {
  const t0 = process.hrtime.bigint();
  return () => Number(process.hrtime.bigint() - t0) / 1e9;
}
