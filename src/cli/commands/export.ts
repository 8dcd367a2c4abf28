/**
 * `tweedie export --model DIR --out model.onnx`: a trained score network (the MLP of
 * `tweedie train`, or the EGNN of `tweedie amortized train --target dw4`) as an ONNX graph
 * (`io/onnx-export.ts`) plus its sidecar `model.onnx.json`, readable by any ONNX runtime and by
 * `tweedie sample|issgm --model model.onnx`. After writing, the file is read back through the
 * import path and its outputs compared with the checkpoint's own network on a few points, so
 * a file that would not round-trip is never presented as a good export.
 */
import type { Command } from 'commander';
import { initEngine } from '../../core/engine.js';
import { keyFromSeed, normalBatch, uniform } from '../../core/key.js';
import { loadModel } from '../../io/checkpoint.js';
import { InputError } from '../../io/errors.js';
import { writeModelOnnx } from '../../io/onnx-export.js';
import { loadOnnxPredictor, readOnnxScoreNetwork } from '../../io/onnx-import.js';
import { sidecarPath } from '../../io/onnx-sidecar.js';
import { networkPredictor } from '../../models/mlp.js';

interface ExportOptions {
  model: string;
  out: string;
}

/** Largest |onnx - network| accepted by the round-trip check (float32 kernels differ by ~1e-6). */
const ROUND_TRIP_TOL = 1e-4;

export function registerExport(program: Command): void {
  program
    .command('export')
    .description('write a trained score network (MLP or EGNN) as ONNX (x [n, dim], t [n, 1] -> [n, dim]) with its sidecar FILE.onnx.json')
    .requiredOption('--model <DIR>', "a trained model: the --out folder of 'tweedie train' or 'tweedie amortized train' (or its model.safetensors)")
    .requiredOption('--out <FILE.onnx>', 'the ONNX file to write (the sidecar goes to FILE.onnx.json)')
    .addHelpText('after', '\nExample:\n  tweedie export --model runs/spirals --out spirals.onnx\n  tweedie sample --model spirals.onnx --n 10000 --out runs/onnx-samples\n')
    .action(async (opts: ExportOptions) => {
      if (!/\.onnx$/i.test(opts.out)) throw new InputError(`--out must name a .onnx file, got '${opts.out}'`);
      const { config, params, step } = loadModel(opts.model);
      const sidecar = writeModelOnnx(opts.out, config, params);
      // Round trip: the written file, through the import path, against the checkpoint's network.
      await initEngine();
      const ref = networkPredictor(config.network, params);
      const back = await loadOnnxPredictor(readOnnxScoreNetwork(opts.out));
      let worst = 0;
      try {
        const x = normalBatch(keyFromSeed(0), 64, config.data.dim);
        const t = uniform(keyFromSeed(1), 64, 1e-3, 1);
        const a = back.predict(x, t).data;
        const b = ref.predict(x, t).data;
        for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / (1 + Math.abs(b[i])));
      } finally {
        back.dispose();
        ref.dispose();
      }
      if (!(worst <= ROUND_TRIP_TOL)) throw new Error(`the written ONNX file does not reproduce the network (max relative difference ${worst}); please report this`);
      process.stdout.write(
        `wrote ${opts.out} (${config.network.kind.toUpperCase()} of step ${step}, ${sidecar.parametrisation} parametrisation, ${sidecar.schedule.kind} schedule) and ${sidecarPath(opts.out)}\n` +
          `  checked: ${back.backend} reproduces the network to ${worst.toExponential(1)} (relative)\n`,
      );
    });
}
