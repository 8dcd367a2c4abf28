/**
 * The sidecar's time input form reaches the network as documented, on each backend: continuous
 * `t`, the step index `999 t`, and a 0-based DDPM index `1000 t - 1`, for a shared time and per
 * row (a graph that returns the time it sees). Sidecar fields out of place are input errors.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { onnxRuntimeAvailable } from '../../src/core/onnx-runtime.js';
import { isInputError } from '../../src/io/errors.js';
import { loadOnnxPredictor, readOnnxScoreNetwork } from '../../src/io/onnx-import.js';
import { graphBytes } from './onnx-graphs.js';

const work = mkdtempSync(join(tmpdir(), 'tweedie-onnx-import-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const backends: ('jax' | 'onnxruntime')[] = ['jax', ...(onnxRuntimeAvailable() ? ['onnxruntime' as const] : [])];
const BASE = { format: 'tweedie-onnx-score', version: 1, dim: 2, parametrisation: 'score', schedule: { kind: 'ddpm', steps: 1000, betaStart: 1e-4, betaEnd: 0.02 } };

function model(name: string, sidecar: object): string {
  const path = join(work, name);
  writeFileSync(path, graphBytes({ echoTime: true }));
  writeFileSync(`${path}.json`, JSON.stringify({ ...BASE, ...sidecar }));
  return path;
}

describe('time input forms', () => {
  const cases: [string, object, (t: number) => number][] = [
    ['continuous', { time: 'continuous' }, (t) => t],
    ['ddpm-index (999 t)', { time: 'ddpm-index' }, (t) => 999 * t],
    ['0-based DDPM step (1000 t - 1)', { time: 'ddpm-index', timeScale: 1000, timeOffset: -1 }, (t) => 1000 * t - 1],
  ];
  for (const [name, side, seen] of cases) {
    for (const backend of backends) {
      it(`${name} on ${backend}`, async () => {
        const p = await loadOnnxPredictor(readOnnxScoreNetwork(model(`${name.split(' ')[0]}-${backend}.onnx`, side)), { backend });
        try {
          const x = { n: 3, dim: 2, data: new Float64Array([1, 2, 3, 4, 5, 6]) };
          const one = p.predict(x, 0.25);
          for (const v of one.data) expect(v).toBeCloseTo(seen(0.25), 3);
          const ts = new Float64Array([0.001, 0.5, 1]);
          const rows = p.predict(x, ts);
          for (let i = 0; i < 3; i++) for (let j = 0; j < 2; j++) expect(rows.data[i * 2 + j]).toBeCloseTo(seen(ts[i]), 3);
        } finally {
          p.dispose();
        }
      });
    }
  }

  it('timeScale/timeOffset only with ddpm-index', () => {
    for (const side of [{ time: 'continuous', timeScale: 10 }, { time: 'continuous', timeOffset: -1 }, { time: 'ddpm-index', timeOffset: 'one' }]) {
      let err: unknown;
      try {
        readOnnxScoreNetwork(model('bad.onnx', side));
      } catch (e) {
        err = e;
      }
      expect(isInputError(err), JSON.stringify(side)).toBe(true);
      expect((err as Error).message).toMatch(/"time(Scale|Offset)"/);
    }
  });
});
