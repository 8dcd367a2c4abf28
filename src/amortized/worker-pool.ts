/**
 * Posterior sampling on worker threads (piscina: a maintained pool with task queueing and error
 * propagation; a crashed or throwing worker rejects the batch, which fails the run with its
 * message). The target crosses as its name or module path and is loaded once per thread.
 * Results do not depend on the number of threads (see `posterior-means.ts`).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { ChunkResult, ChunkRunner, ChunkTask } from './posterior-means.js';

/**
 * The compiled worker file. Next to this module when running from `dist/`; when this module runs
 * from `src/` (tests), the compiled copy in `dist/` (the test script builds first).
 */
function workerFile(): string {
  const here = fileURLToPath(new URL('./posterior-worker.js', import.meta.url));
  if (existsSync(here)) return here;
  const built = here.replace(/([\\/])src([\\/]amortized[\\/])/, '$1dist$2');
  if (existsSync(built)) return built;
  throw new Error(`posterior worker not found at ${here} or ${built}; run 'npm run build' first`);
}

/** A pool of `threads` workers for the target `spec` (a registry name or a module path). */
export function workerPoolRunner(spec: string, threads: number): ChunkRunner {
  if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`worker threads must be a positive integer, got ${threads}`);
  const pool = new Piscina({ filename: workerFile(), minThreads: threads, maxThreads: threads, idleTimeout: 60_000 });
  // A reply arriving after the pool was closed on another task's failure is an 'error' event in
  // piscina; unhandled, it would crash the process and hide that failure (see chunked-sampling.ts).
  pool.on('error', () => {});
  return {
    run: (tasks: ChunkTask[]): Promise<ChunkResult[]> => Promise.all(tasks.map((t) => pool.run({ ...t, target: spec }) as Promise<ChunkResult>)),
    close: () => pool.destroy(),
  };
}
