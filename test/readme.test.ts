/**
 * The README must stay exactly true: every ```js example runs against the built package
 * (self-referenced as 'tweedie'), and the quick-start scripts exist.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
const examples = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);

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
});
