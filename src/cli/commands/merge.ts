/**
 * `tweedie merge SHARD_DIR... --out DIR`: the N shards of one `sample --model` or `issgm` run
 * (`--shard i/N`, `sharding.ts`) into the complete run: checks that every shard 0..N-1 is there
 * exactly once, that all manifests describe the same run and that every array still has its
 * recorded hash and shape; concatenates the rows in shard order (which is the unsharded row
 * order, so the merged samples.npy is the unsharded one byte for byte); then runs the command's
 * own evaluation (metrics with the floor, plots, result.json) on the merged arrays.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import type { Batch } from '../../core/batch.js';
import { keyFromSeed, split } from '../../core/key.js';
import { writeFileAtomic } from '../../io/atomic.js';
import { InputError } from '../../io/errors.js';
import { readNpyBatch, writeNpy } from '../../io/npy.js';
import { ONNX_BACKENDS, type OnnxBackend } from '../../models/onnx-predictor.js';
import { loadSamplingModel } from '../model-sampling.js';
import { ensureOutDir, stopwatch } from '../output.js';
import type { IssgmChunkStats } from '../sample-chunk.js';
import { MANIFEST_FILE, type ShardManifest } from '../sharding.js';
import { evaluateIssgm, issgmSampled, loadBase, loadWeight, sumIssgmStats, type IssgmCliOptions } from './issgm.js';
import { reportSampleModel } from './sample.js';
import { reportAmortizedSample } from './amortized.js';
import { amortizedProblem } from '../amortized-problem.js';
import { loadModel } from '../../io/checkpoint.js';

interface Shard {
  dir: string;
  manifest: ShardManifest;
}

/** The shard folders named by the arguments: each a shard folder, or a folder whose sub-folders are shards. */
export function findShards(args: string[]): string[] {
  const dirs: string[] = [];
  for (const a of args) {
    if (!existsSync(a)) throw new InputError(`${a}: no such shard folder`);
    if (existsSync(join(a, MANIFEST_FILE))) {
      dirs.push(a);
      continue;
    }
    const subs = statSync(a).isDirectory()
      ? readdirSync(a).sort().map((s) => join(a, s)).filter((s) => existsSync(join(s, MANIFEST_FILE)))
      : [];
    if (subs.length === 0) {
      throw new InputError(`${a}: not a shard folder (no ${MANIFEST_FILE}; an unfinished shard has none) and no shard folders in it`);
    }
    dirs.push(...subs);
  }
  return dirs;
}

function readManifest(dir: string): ShardManifest {
  const path = join(dir, MANIFEST_FILE);
  let m: ShardManifest;
  try {
    m = JSON.parse(readFileSync(path, 'utf8')) as ShardManifest;
  } catch (e) {
    throw new InputError(`${path}: not a readable shard manifest (${(e as Error).message})`, { cause: e });
  }
  if (m?.format !== 'tweedie-shard/1') throw new InputError(`${path}: not a tweedie shard manifest (format ${JSON.stringify(m?.format)})`);
  return m;
}

/** Where two manifests of supposedly one run differ, as 'field a vs b' items. */
function differences(a: ShardManifest, b: ShardManifest): string[] {
  const out: string[] = [];
  const cmp = (name: string, x: unknown, y: unknown) => {
    if (JSON.stringify(x) !== JSON.stringify(y)) out.push(`${name} ${JSON.stringify(x)} vs ${JSON.stringify(y)}`);
  };
  cmp('command', a.command, b.command);
  cmp('seed', a.seed, b.seed);
  cmp('shard count', a.shard.count, b.shard.count);
  cmp('chunk rows', a.chunks.rows, b.chunks.rows);
  cmp('version', a.version, b.version);
  for (const k of new Set([...Object.keys(a.config), ...Object.keys(b.config)])) cmp(k, a.config[k], b.config[k]);
  for (const k of new Set([...Object.keys(a.hashes), ...Object.keys(b.hashes)])) {
    if (a.hashes[k] !== b.hashes[k]) out.push(`${k} file contents (hash ${a.hashes[k]?.slice(0, 12)} vs ${b.hashes[k]?.slice(0, 12)})`);
  }
  if (out.length === 0 && a.run !== b.run) out.push(`run id ${a.run} vs ${b.run}`);
  return out;
}

/** All N shards of one run, each once, in index order; or an InputError naming what is wrong. */
export function checkShards(dirs: string[]): Shard[] {
  if (dirs.length === 0) throw new InputError('merge: no shard folders given');
  const shards = dirs.map((dir) => ({ dir, manifest: readManifest(dir) }));
  const ref = shards[0];
  for (const s of shards.slice(1)) {
    const diff = differences(ref.manifest, s.manifest);
    if (diff.length > 0) {
      throw new InputError(`${s.dir} (shard ${s.manifest.shard.index}/${s.manifest.shard.count}) is not from the same run as ${ref.dir} (shard ${ref.manifest.shard.index}/${ref.manifest.shard.count}): ${diff.join('; ')}`);
    }
  }
  const N = ref.manifest.shard.count;
  const byIndex = new Map<number, Shard[]>();
  for (const s of shards) byIndex.set(s.manifest.shard.index, [...(byIndex.get(s.manifest.shard.index) ?? []), s]);
  const dup = [...byIndex.entries()].filter(([, l]) => l.length > 1).sort((a, b) => a[0] - b[0]);
  if (dup.length > 0) {
    throw new InputError(`merge: ${dup.map(([i, l]) => `shard ${i}/${N} given ${l.length} times (${l.map((s) => s.dir).join(', ')})`).join('; ')}; give each shard once`);
  }
  const missing: number[] = [];
  for (let i = 0; i < N; i++) if (!byIndex.has(i)) missing.push(i);
  if (missing.length > 0) {
    throw new InputError(`merge: missing shard${missing.length > 1 ? 's' : ''} ${missing.join(', ')} of ${N} (run ${ref.manifest.run}; found ${[...byIndex.keys()].sort((a, b) => a - b).join(', ')})`);
  }
  const ordered = [...Array(N).keys()].map((i) => byIndex.get(i)![0]);
  // The shards must tile the run's rows in order (true by construction; a hand-edited manifest is caught here).
  let next = 0;
  for (const s of ordered) {
    if (s.manifest.rows.start !== next) throw new InputError(`${s.dir}: shard ${s.manifest.shard.index}/${N} starts at row ${s.manifest.rows.start}, expected ${next}`);
    next += s.manifest.rows.count;
  }
  if (next !== ref.manifest.rows.total) throw new InputError(`merge: the shards hold ${next} rows, the run has ${ref.manifest.rows.total}`);
  return ordered;
}

/** One array of every shard, checked against its manifest (hash, rows, columns), concatenated. */
function concatenate(shards: Shard[], name: string): Batch {
  const parts: Batch[] = [];
  for (const s of shards) {
    const f = s.manifest.files[name];
    if (f === undefined) throw new InputError(`${s.dir}: the manifest lists no '${name}' array`);
    const path = join(s.dir, f.file);
    if (!existsSync(path)) throw new InputError(`${path}: missing (listed in ${join(s.dir, MANIFEST_FILE)})`);
    const bytes = readFileSync(path);
    if (createHash('sha256').update(bytes).digest('hex') !== f.sha256) {
      throw new InputError(`${path}: changed or truncated since shard ${s.manifest.shard.index}/${s.manifest.shard.count} was written (its sha256 is not the manifest's)`);
    }
    const b = readNpyBatch(path, { allowNonFinite: true });
    if (b.n !== s.manifest.rows.count || b.dim !== f.columns) {
      throw new InputError(`${path}: ${b.n} x ${b.dim}, but the manifest says ${s.manifest.rows.count} x ${f.columns}`);
    }
    parts.push(b);
  }
  const n = parts.reduce((a, b) => a + b.n, 0);
  const data = new Float64Array(n * parts[0].dim);
  let off = 0;
  for (const b of parts) {
    data.set(b.data, off);
    off += b.data.length;
  }
  return { n, dim: parts[0].dim, data };
}

function backendOf(engine: unknown): { backend?: OnnxBackend } {
  return typeof engine === 'string' && (ONNX_BACKENDS as readonly string[]).includes(engine) ? { backend: engine as OnnxBackend } : {};
}

/** Add what was merged to the result.json the command's evaluation wrote. */
function recordMerge(dir: string, shards: Shard[]): void {
  const path = join(dir, 'result.json');
  const r = JSON.parse(readFileSync(path, 'utf8')) as { config: Record<string, unknown>; timings?: Record<string, number> };
  const m = shards[0].manifest;
  r.config.merged = { run: m.run, shards: m.shard.count, chunkRows: m.chunks.rows, from: shards.map((s) => s.dir) };
  writeFileAtomic(path, `${JSON.stringify(r, null, 2)}\n`);
}

export async function mergeCommand(args: string[], opts: { out: string; quiet: boolean }): Promise<void> {
  const clock = stopwatch();
  const shards = checkShards(findShards(args));
  const out = resolve(opts.out);
  const clash = shards.find((s) => resolve(s.dir) === out);
  if (clash) throw new InputError(`--out ${opts.out} is shard folder ${clash.dir}; merge into a new folder`);
  const m = shards[0].manifest;
  const cfg = m.config;
  const timings = shards.map((s) => s.manifest.timings ?? {});
  const summed = (k: string) => timings.reduce((a, t) => a + (t[k] ?? 0), 0);
  if (m.command === 'sample') {
    const samples = concatenate(shards, 'samples');
    const model = loadSamplingModel(String(cfg.model), backendOf(cfg.engine));
    const dir = ensureOutDir(opts.out);
    writeNpy(join(dir, 'samples.npy'), samples);
    // The report runs in model space, as `sample --model` does: undo the data normalisation.
    const { scale, shift } = model.data.normalisation;
    const x = scale === 1 && shift === 0 ? samples : { ...samples, data: samples.data.map((v) => (v - shift) / scale) };
    const [, kEval] = split(keyFromSeed(m.seed), 2);
    await reportSampleModel(dir, { seed: m.seed, config: cfg }, model, x, kEval, { sampleSecondsSumOverShards: summed('sampleSeconds') }, clock);
    recordMerge(dir, shards);
    return;
  }
  if (m.command === 'issgm') {
    const q = concatenate(shards, 'samples');
    const p = concatenate(shards, 'p');
    const panels = m.files.panels ? concatenate(shards, 'panels') : undefined;
    const stats = sumIssgmStats(shards.map((s) => (s.manifest.extra as { stats: IssgmChunkStats }).stats));
    const panelTimes = (m.extra as { panelTimes: number[] }).panelTimes;
    const iopts = { ...cfg, seed: m.seed, out: opts.out, quiet: opts.quiet } as unknown as IssgmCliOptions;
    const base = await loadBase(iopts.model, backendOf(cfg.engine));
    try {
      const weight = await loadWeight(iopts.weight, base.score.dim);
      ensureOutDir(opts.out);
      await evaluateIssgm(iopts, base, weight, issgmSampled(q, p, panels?.data, panelTimes, stats, summed('issgmSeconds')), clock);
    } finally {
      base.dispose();
    }
    recordMerge(opts.out, shards);
    return;
  }
  if (m.command === 'amortized sample') {
    const samples = concatenate(shards, 'samples');
    const source = loadModel(String(cfg.model)).config.data.source;
    const problem = await amortizedProblem(source.slice('amortized:'.length));
    const dir = ensureOutDir(opts.out);
    await reportAmortizedSample(dir, { seed: m.seed, config: cfg }, problem, samples, clock);
    recordMerge(dir, shards);
    return;
  }
  throw new InputError(`${shards[0].dir}: shards of '${String(m.command)}' cannot be merged`);
}

export function registerMerge(program: Command): void {
  program
    .command('merge')
    .description('merge the shards of a sample --model, issgm or amortized sample run (--shard i/N) into the complete run: samples.npy, metrics, plots, result.json')
    .argument('<DIR...>', 'shard folders (the --out of each shard), or folders holding them')
    .requiredOption('--out <DIR>', 'output folder of the merged run')
    .option('--quiet', 'no progress output', false)
    .addHelpText('after', '\nExamples:\n  tweedie merge runs/big/shard-* --out runs/big/merged\n  tweedie merge runs/big --out runs/big/merged      # every shard folder inside runs/big\n')
    .action((dirs: string[], opts: { out: string; quiet: boolean }) => mergeCommand(dirs, opts));
}
