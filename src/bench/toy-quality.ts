/**
 * Quality of `tweedie train` with its defaults on the four ISSGM datasets (issue 3 item 5):
 * for each of circles, 2spirals, pinwheel, 8gaussians, train through the real CLI, draw 10,000
 * model samples, and report JSD (64 x 64 bins on [-4.5, 4.5]^2, natural log) and W2 (2,000
 * points) against 10,000 data samples, next to the floor (two data sets of the same size).
 *
 * Run: `npm run bench:quality [-- --datasets 2spirals --steps N]`. Writes
 * bench/results/toy-quality.json and prints a Markdown table. Minutes per dataset.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const CLI = join(ROOT, 'dist/cli/main.js');

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const datasets = (arg('datasets') ?? 'circles,2spirals,pinwheel,8gaussians').split(',');
const extra = arg('steps') ? ['--steps', arg('steps')!] : [];
const rows: Record<string, unknown>[] = [];
for (const data of datasets) {
  const out = join(ROOT, 'bench/runs/quality', data);
  // Fresh output: the bench measures the defaults from scratch (the trained models stay for inspection).
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [CLI, 'train', '--data', data, '--eval-samples', '10000', '--out', out, ...extra], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (r.status !== 0) throw new Error(`training on ${data} failed with exit code ${r.status}`);
  const res = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8'));
  rows.push({
    data,
    steps: res.config.steps,
    batch: res.config.train.batch,
    jsd: res.metrics.jsd,
    jsdFloor: res.floor.jsd,
    w2: res.metrics.w2,
    w2Floor: res.floor.w2,
    trainSeconds: res.timings.trainSeconds,
    totalSeconds: (Date.now() - t0) / 1000,
  });
}
const header = '| data | steps | JSD | floor | JSD / floor | W2 | floor | train s |\n|---|---|---|---|---|---|---|---|';
const lines = rows.map((r: any) =>
  `| ${r.data} | ${r.steps} | ${r.jsd.toFixed(4)} | ${r.jsdFloor.toFixed(4)} | ${(r.jsd / r.jsdFloor).toFixed(2)} | ${r.w2.toFixed(4)} | ${r.w2Floor.toFixed(4)} | ${r.trainSeconds.toFixed(0)} |`);
console.log(`${header}\n${lines.join('\n')}`);
mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
writeFileSync(join(ROOT, 'bench/results/toy-quality.json'), `${JSON.stringify({
  benchmark: 'tweedie train defaults on the ISSGM toy sets; JSD 64x64 bins on [-4.5,4.5]^2 with 10,000 vs 10,000 points; W2 on 2,000 vs 2,000',
  node: process.version, cpu: cpus()[0]?.model, cores: cpus().length, date: new Date().toISOString(), extraArgs: extra, rows,
}, null, 2)}\n`);
