#!/usr/bin/env node
/**
 * The `tweedie` command line. Thin: parse, validate, call one library function, write outputs.
 * Exit codes: 0 success, 2 bad input (unknown option or target, unreadable or invalid file,
 * NaN/Inf, shape mismatch) with one message naming the problem, 1 for anything unexpected.
 */
import { Command, CommanderError } from 'commander';
import { isInputError } from '../io/errors.js';
import { registerAmortized } from './commands/amortized.js';
import { registerDemo } from './commands/demo.js';
import { registerEval } from './commands/eval.js';
import { registerExport } from './commands/export.js';
import { registerIssgm } from './commands/issgm.js';
import { registerMerge } from './commands/merge.js';
import { registerSample } from './commands/sample.js';
import { registerTrain } from './commands/train.js';
import { VERSION } from './output.js';

export function buildProgram(): Command {
  const program = new Command('tweedie')
    .description('Diffusion-based sampling: exact targets and metrics, reverse diffusion, importance sampling (ISSGM).')
    .version(VERSION)
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)');
  registerSample(program);
  registerTrain(program);
  registerIssgm(program);
  registerAmortized(program);
  registerEval(program);
  registerExport(program);
  registerMerge(program);
  registerDemo(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2; // commander already printed it
    if (isInputError(e) || e instanceof RangeError) {
      process.stderr.write(`tweedie: error: ${(e as Error).message}\n`);
      return 2;
    }
    process.stderr.write(`tweedie: unexpected error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return 1;
  }
}

// `tweedie ... | head` closes the pipe early: that is not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
