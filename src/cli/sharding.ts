/**
 * `--shard i/N` and the shard manifest. A run of `n` rows has `ceil(n / CHUNK_ROWS)` chunks;
 * shard `i` of `N` takes the contiguous chunks `[floor(i C / N), floor((i + 1) C / N))`, so the N
 * shards in index order are the run's rows in order, and `tweedie merge` only concatenates.
 *
 * A shard folder holds its arrays, `result.json` (marked partial) and, written last and
 * atomically, `shard.json`: the manifest. Its presence means the shard finished; `merge` checks
 * that all N manifests describe the same run (same `run` id: command, config, seed, model and
 * weight content hashes, version, chunk size) and that every array still has its recorded hash.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError } from 'commander';
import { writeFileAtomic } from '../io/atomic.js';
import { CHECKPOINT_FILE, MODEL_FILE } from '../io/checkpoint.js';
import { InputError } from '../io/errors.js';
import { chunkCount, rangeRows, type ChunkRange } from './chunked-sampling.js';
import { VERSION } from './output.js';
import { CHUNK_ROWS } from './sample-chunk.js';

export interface ShardSpec {
  index: number;
  count: number;
}

export const SHARD_HELP = 'run only shard i of N (0 <= i < N; e.g. $SLURM_ARRAY_TASK_ID/10) and write a partial result for tweedie merge';

/** Parse `--shard i/N`. */
export function parseShard(value: string): ShardSpec {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(value);
  if (!m) throw new InvalidArgumentError(`expected i/N (shard i of N, 0 <= i < N), got '${value}'`);
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (!Number.isSafeInteger(count) || count < 1) throw new InvalidArgumentError(`the number of shards N must be at least 1, got '${value}'`);
  if (index >= count) throw new InvalidArgumentError(`shard index i must be 0..${count - 1} (indices start at 0), got '${value}'`);
  return { index, count };
}

/** The chunks of shard `i/N` of a run of `n` rows; every shard must get at least one chunk. */
export function shardRange(n: number, shard: ShardSpec | undefined): ChunkRange {
  const C = chunkCount(n);
  if (shard === undefined) return { first: 0, end: C };
  if (shard.count > C) {
    throw new InputError(`--shard ${shard.index}/${shard.count}: n = ${n} is only ${C} chunk${C === 1 ? '' : 's'} of ${CHUNK_ROWS} rows; use at most ${C} shards`);
  }
  return { first: Math.floor((shard.index * C) / shard.count), end: Math.floor(((shard.index + 1) * C) / shard.count) };
}

function sha256(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * A content hash of a `--model` or `--weight` spec: the files it names (checkpoint folder →
 * model.safetensors, or checkpoint.safetensors when there is no model file; model.onnx → it and
 * its sidecar; a module or any other existing file → it), or the string itself (built-in specs,
 * `exact:NAME`). A spec like `FILE.onnx:class=3` hashes FILE.onnx and keeps the rest as text.
 */
export function specHash(spec: string): string {
  const files: string[] = [];
  const fileOf = (p: string): boolean => existsSync(p) && statSync(p).isFile();
  if (existsSync(spec) && statSync(spec).isDirectory()) {
    const m = join(spec, MODEL_FILE);
    const c = join(spec, CHECKPOINT_FILE);
    files.push(existsSync(m) ? m : c);
  } else if (fileOf(spec)) {
    files.push(spec);
  } else {
    // The longest prefix before a ':' that is a file (weights with arguments).
    for (let i = spec.lastIndexOf(':'); i > 0; i = spec.lastIndexOf(':', i - 1)) {
      if (fileOf(spec.slice(0, i))) {
        files.push(spec.slice(0, i));
        break;
      }
    }
  }
  if (files.length === 1 && files[0].endsWith('.onnx') && fileOf(`${files[0]}.json`)) files.push(`${files[0]}.json`);
  const h = createHash('sha256').update(`spec:${spec}\n`);
  for (const f of files) h.update(`file:${sha256(readFileSync(f))}\n`);
  return h.digest('hex');
}

/** The manifest `shard.json` of one shard. */
export interface ShardManifest {
  format: 'tweedie-shard/1';
  command: 'sample' | 'issgm' | 'amortized sample';
  /** Identifies the run: equal for all shards of one run, different for any other. */
  run: string;
  seed: number;
  shard: ShardSpec;
  /** This shard's chunks `[first, end)` of `CHUNK_ROWS` rows, and its rows `[start, start + count)`. */
  chunks: ChunkRange & { rows: number; total: number };
  rows: { start: number; count: number; total: number };
  dim: number;
  /** Everything the run's evaluation needs (the command's options, without output, threads or shard). */
  config: Record<string, unknown>;
  /** Content hashes of the model and weight specs. */
  hashes: Record<string, string>;
  /** The arrays of this shard and their sha256 (checked by merge). */
  files: Record<string, { file: string; sha256: string; columns: number }>;
  /** Extra data of the command (ISSGM: the panel times and the diagnostics counts). */
  extra?: Record<string, unknown>;
  /** Sampling seconds of this shard (not part of the run's identity). */
  timings?: Record<string, number>;
  version: string;
}

export const MANIFEST_FILE = 'shard.json';

/** The run id of a manifest: what must agree between shards. */
export function runId(command: string, seed: number, n: number, config: Record<string, unknown>, hashes: Record<string, string>): string {
  return sha256(JSON.stringify({ command, seed, n, config, hashes, version: VERSION, chunkRows: CHUNK_ROWS })).slice(0, 16);
}

/** Build the manifest of a shard whose arrays are already written in `dir`. */
export function shardManifest(o: {
  command: 'sample' | 'issgm' | 'amortized sample'; seed: number; n: number; dim: number; shard: ShardSpec; range: ChunkRange;
  config: Record<string, unknown>; hashes: Record<string, string>; dir: string; files: Record<string, { file: string; columns: number }>;
  extra?: Record<string, unknown>; timings?: Record<string, number>;
}): ShardManifest {
  const rows = rangeRows(o.n, o.range);
  const files: ShardManifest['files'] = {};
  for (const [k, f] of Object.entries(o.files)) files[k] = { ...f, sha256: sha256(readFileSync(join(o.dir, f.file))) };
  return {
    format: 'tweedie-shard/1',
    command: o.command,
    run: runId(o.command, o.seed, o.n, o.config, o.hashes),
    seed: o.seed,
    shard: o.shard,
    chunks: { ...o.range, rows: CHUNK_ROWS, total: chunkCount(o.n) },
    rows: { start: rows.start, count: rows.rows, total: o.n },
    dim: o.dim,
    config: o.config,
    hashes: o.hashes,
    files,
    ...(o.extra ? { extra: o.extra } : {}),
    ...(o.timings ? { timings: o.timings } : {}),
    version: VERSION,
  };
}

/** Write the manifest last, atomically: a shard folder without `shard.json` is an unfinished shard. */
export function writeManifest(dir: string, m: ShardManifest): void {
  writeFileAtomic(join(dir, MANIFEST_FILE), `${JSON.stringify(m, null, 2)}\n`);
}

/** The note a shard's result.json carries instead of metrics. */
export function partialNote(shard: ShardSpec, m: ShardManifest): string {
  return `partial result: shard ${shard.index}/${shard.count} (rows ${m.rows.start}..${m.rows.start + m.rows.count - 1} of ${m.rows.total}) of run ${m.run}; ` +
    `no metrics here: merge all ${shard.count} shards with 'tweedie merge DIR... --out DIR'`;
}
