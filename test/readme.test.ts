/**
 * The README must stay exactly true: every ```js example runs against the built package
 * (self-referenced as 'tweedie'), and the quick-start scripts exist.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fromRows } from '../src/core/batch.js';
import { initEngine } from '../src/core/engine.js';
import { loadWeightModule } from '../src/io/weight-module.js';
import { loadEnergyModule } from '../src/io/energy-module.js';

const ROOT = resolve(import.meta.dirname, '..');
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
const blocks = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);
const examples = blocks.filter((b) => b.includes("from 'tweedie'"));
const weightModules = blocks.filter((b) => b.includes('export function logWeight'));
const energyModules = blocks.filter((b) => b.includes('export function logDensity'));

describe('README', () => {
  it('has a quick start whose scripts exist', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    expect(readme).toContain('npm ci && npm run demo');
    expect(readme).toContain('npm ci && npm test');
    expect(pkg.scripts.demo).toBeDefined();
    expect(pkg.scripts.test).toBeDefined();
    expect(pkg.bin.tweedie).toBe('dist/cli/main.js');
  });
  it.each(examples.map((code, i) => [i, code]))('example %i runs', (i, code) => {
    // Inside the package folder so that `import ... from 'tweedie'` resolves to this package.
    const file = join(ROOT, `.readme-example-${i}-${process.pid}.mjs`);
    writeFileSync(file, code as string);
    try {
      const r = spawnSync(process.execPath, [file], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout.length).toBeGreaterThan(0);
    } finally {
      rmSync(file, { force: true });
    }
  });
  it('has at least one library example', () => expect(examples.length).toBeGreaterThan(0));
  it('shows a weight module that loads and whose value and gradient are those of l = 1 + x1^2', async () => {
    expect(weightModules.length).toBe(1);
    const file = join(tmpdir(), `readme-weight-${process.pid}.mjs`);
    writeFileSync(file, weightModules[0]);
    try {
      await initEngine();
      const w = await loadWeightModule(file, { dim: 2 });
      const { value, grad } = w.valueAndGrad(fromRows([[2, 5], [-1, 0]]));
      expect(value[0]).toBeCloseTo(Math.log(5), 5);
      expect(value[1]).toBeCloseTo(Math.log(2), 5);
      expect(grad.data[0]).toBeCloseTo(4 / 5, 5); // d/dx1 log(1 + x1^2) = 2 x1 / (1 + x1^2)
      expect(grad.data[1]).toBeCloseTo(0, 6);
    } finally {
      rmSync(file, { force: true });
    }
  });
  it('shows an energy module that loads and is the ring log p = -2 (|x| - 3)^2', async () => {
    expect(energyModules.length).toBe(1);
    const file = join(tmpdir(), `readme-energy-${process.pid}.mjs`);
    writeFileSync(file, energyModules[0]);
    try {
      const t = await loadEnergyModule(file);
      const { value, grad } = t.logDensityAndGrad(fromRows([[0, 5], [1, 0]]));
      expect(value[0]).toBeCloseTo(-8, 4);
      expect(value[1]).toBeCloseTo(-8, 4);
      expect(grad.data[1]).toBeCloseTo(-8, 4); // d/dx2 at (0, 5): -4 (5 - 3)
      expect(grad.data[2]).toBeCloseTo(8, 4); // d/dx1 at (1, 0): -4 (1 - 3)
    } finally {
      rmSync(file, { force: true });
    }
  });
});
