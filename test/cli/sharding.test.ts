/**
 * Multi-core sampling and sharding end to end (issue 6 part 5), through the built CLI (worker
 * threads load dist/cli/sample-worker.js): the samples do not depend on --threads, the N shards
 * merged are the unsharded run byte for byte (and so are its metrics), bad merges name the shard,
 * and a failing or crashing worker fails the run naming the chunk, with no samples.npy written.
 * Sizes are tiny but above one chunk (1,000 rows), so that chunks, shards and threads really split.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const CLI = join(ROOT, 'dist/cli/main.js');
const work = mkdtempSync(join(tmpdir(), 'tweedie-shard-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function tweedie(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: work, encoding: 'utf8', timeout: 300_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
const ok = (r: { code: number; stderr: string }) => expect(r.code, r.stderr).toBe(0);
const bytes = (p: string) => readFileSync(join(work, p));
const json = (p: string) => JSON.parse(readFileSync(join(work, p), 'utf8'));

// The PyTorch-exported fixture: its sidecar names no training data, so `sample` computes no metrics
// and these tests time only the sampling.
const MODEL = join(ROOT, 'test/fixtures/onnx/pytorch_mlp.onnx');
const SAMPLE = ['sample', '--model', MODEL, '--n', '2100', '--steps', '5', '--quiet', '--no-plot'];

describe('sample --model: threads and shards', () => {
  it('gives the same bytes on 1 thread and on 2 worker threads', () => {
    ok(tweedie(...SAMPLE, '--threads', '1', '--out', 't1'));
    ok(tweedie(...SAMPLE, '--threads', '2', '--out', 't2'));
    expect(bytes('t2/samples.npy').equals(bytes('t1/samples.npy'))).toBe(true);
    expect(json('t2/result.json').config.threads).toBe(2);
  });

  it('shards 0/3, 1/3, 2/3 merged are the unsharded samples.npy, bit for bit', () => {
    for (let i = 0; i < 3; i++) {
      const r = tweedie(...SAMPLE, '--shard', `${i}/3`, '--out', `sh/s${i}`);
      ok(r);
      expect(r.stdout).toMatch(new RegExp(`wrote shard ${i}/3`));
    }
    // A shard never looks like a complete result: result.json is marked partial, has no metrics.
    const part = json('sh/s1/result.json');
    expect(part.config.shard).toMatchObject({ index: 1, count: 3, partial: true, rows: { start: 1000, count: 1000, total: 2100 } });
    expect(part.metrics).toBeUndefined();
    expect(part.notes[0]).toMatch(/partial result: shard 1\/3/);
    expect(json('sh/s2/shard.json').rows).toEqual({ start: 2000, count: 100, total: 2100 });
    const m = tweedie('merge', 'sh', '--out', 'merged', '--quiet'); // a folder of shard folders
    ok(m);
    expect(bytes('merged/samples.npy').equals(bytes('t1/samples.npy'))).toBe(true);
    expect(json('merged/result.json').config.merged).toMatchObject({ shards: 3, chunkRows: 1000 });
    // Shard folders given one by one, in any order, are the same.
    ok(tweedie('merge', 'sh/s2', 'sh/s0', 'sh/s1', '--out', 'merged2', '--quiet'));
    expect(bytes('merged2/samples.npy').equals(bytes('t1/samples.npy'))).toBe(true);
  });

  it('merge names a missing, a duplicate, a mismatched or a truncated shard (exit 2)', () => {
    const fails = (args: string[], message: RegExp) => {
      const r = tweedie('merge', ...args, '--out', 'bad', '--quiet');
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(existsSync(join(work, 'bad/samples.npy'))).toBe(false);
    };
    fails(['sh/s0', 'sh/s2'], /missing shard 1 of 3/);
    cpSync(join(work, 'sh/s1'), join(work, 'dup/s1'), { recursive: true });
    fails(['sh/s0', 'sh/s1', 'dup/s1', 'sh/s2'], /shard 1\/3 given 2 times \(sh\/s1, dup\/s1\)/);
    // Shard 1 of another run (other steps) with shards 0 and 2 of this one.
    ok(tweedie('sample', '--model', MODEL, '--n', '2100', '--steps', '6', '--quiet', '--no-plot', '--shard', '1/3', '--out', 'other/s1'));
    fails(['sh/s0', 'other/s1', 'sh/s2'], /other\/s1 \(shard 1\/3\) is not from the same run as sh\/s0.*steps 5 vs 6/);
    cpSync(join(work, 'sh/s1'), join(work, 'trunc/s1'), { recursive: true });
    truncateSync(join(work, 'trunc/s1/samples.npy'), 1000);
    fails(['sh/s0', 'trunc/s1', 'sh/s2'], /trunc\/s1\/samples\.npy: changed or truncated since shard 1\/3 was written/);
    fails(['t1'], /t1: not a shard folder/);
    const into = tweedie('merge', 'sh', '--out', 'sh/s0', '--quiet');
    expect(into.code).toBe(2);
    expect(into.stderr).toMatch(/--out sh\/s0 is shard folder sh\/s0; merge into a new folder/);
  });

  it('rejects a bad --shard (exit 2)', () => {
    const r = tweedie(...SAMPLE, '--shard', '3/3', '--out', 'x');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/shard index i must be 0\.\.2/);
    const many = tweedie(...SAMPLE, '--shard', '0/4', '--out', 'x');
    expect(many.code).toBe(2);
    expect(many.stderr).toMatch(/n = 2100 is only 3 chunks of 1000 rows; use at most 3 shards/);
  });
});

describe('issgm: shards and worker failures', () => {
  const ISSGM = ['issgm', '--model', 'exact:8gaussians', '--weight', 'tilt:1,0.5', '--n', '1100', '--steps', '10', '--panel-times', '3', '--quiet'];

  it('shards merged (in process) give the unsharded run on 2 worker threads: q, p, metrics and Fig. 2 panel', () => {
    ok(tweedie(...ISSGM, '--threads', '2', '--out', 'whole'));
    ok(tweedie(...ISSGM, '--shard', '0/2', '--out', 'ish/a'));
    ok(tweedie(...ISSGM, '--shard', '1/2', '--out', 'ish/b'));
    expect(json('ish/a/result.json').metrics).toBeUndefined();
    ok(tweedie('merge', 'ish/b', 'ish/a', '--out', 'imerged', '--quiet'));
    for (const f of ['samples.npy', 'p_samples.npy', 'ground_truth.npy', 'fig2_panel.svg']) {
      expect(bytes(`imerged/${f}`).equals(bytes(`whole/${f}`)), f).toBe(true);
    }
    const [a, b] = [json('whole/result.json'), json('imerged/result.json')];
    expect(b.metrics).toEqual(a.metrics);
    expect(b.floor).toEqual(a.floor);
    expect(b.config.issgm).toEqual(a.config.issgm);
    expect(b.notes).toEqual(a.notes);
  });

  it('a weight that throws on a worker thread fails the run naming the chunk; no samples.npy', () => {
    // Works on the main thread (the load-time probe), throws on the workers.
    writeFileSync(join(work, 'worker-throws.mjs'), [
      "import { isMainThread } from 'node:worker_threads';",
      'export function value(x) { if (!isMainThread) throw new Error("boom in a worker"); return x.map((r) => r[0]); }',
      'export function grad(x) { return x.map(() => [1, 0]); }',
    ].join('\n'));
    const r = tweedie('issgm', '--model', 'exact:8gaussians', '--weight', 'worker-throws.mjs', '--n', '2100', '--steps', '3', '--threads', '2', '--quiet', '--out', 'thrown');
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/chunk \d \(rows \d+\.\.\d+\) failed on a worker thread: .*boom in a worker/);
    expect(existsSync(join(work, 'thrown/samples.npy'))).toBe(false);
  });

  it('a worker thread that dies fails the run naming the chunk and shard; no samples.npy', () => {
    writeFileSync(join(work, 'worker-exits.mjs'), [
      "import { isMainThread } from 'node:worker_threads';",
      'export function value(x) { if (!isMainThread) process.exit(3); return x.map((r) => r[0]); }',
      'export function grad(x) { return x.map(() => [1, 0]); }',
    ].join('\n'));
    const r = tweedie('issgm', '--model', 'exact:8gaussians', '--weight', 'worker-exits.mjs', '--n', '3100', '--steps', '3', '--threads', '2', '--shard', '0/1', '--quiet', '--out', 'died');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/chunk \d \(rows \d+\.\.\d+, shard 0\/1\) failed on a worker thread: the worker thread crashed/);
    expect(existsSync(join(work, 'died/samples.npy'))).toBe(false);
    expect(existsSync(join(work, 'died/shard.json'))).toBe(false);
  });
});

describe('amortized sample: shards', () => {
  it('two shards merged are the one-shard run, bit for bit, and merge judges them', () => {
    ok(tweedie('amortized', 'train', '--target', 'gmm40', '--epochs', '1', '--iterations', '2', '--batch', '8', '--particles', '4',
      '--validate-every', '1', '--validate-n', '64', '--eval-n', '0', '--threads', '0', '--quiet', '--out', 'am'));
    const A = ['amortized', 'sample', '--model', 'am', '--n', '1100', '--steps', '5'];
    // --shard 0/1 is the whole run without its evaluation (cheap): the reference bytes.
    ok(tweedie(...A, '--shard', '0/1', '--out', 'am-one'));
    ok(tweedie(...A, '--shard', '0/2', '--threads', '1', '--out', 'am-sh/0'));
    ok(tweedie(...A, '--shard', '1/2', '--out', 'am-sh/1'));
    ok(tweedie('merge', 'am-sh', '--out', 'am-merged', '--quiet'));
    expect(bytes('am-merged/samples.npy').equals(bytes('am-one/samples.npy'))).toBe(true);
    const res = json('am-merged/result.json');
    expect(res.command).toBe('amortized sample');
    expect(res.metrics.w2).toBeGreaterThan(0);
    expect(res.floor.w2).toBeGreaterThan(0);
  });
});
