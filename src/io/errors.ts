import { readFileSync } from 'node:fs';
/**
 * Errors caused by what a user gave us (a file, a config value, a flag), as opposed to bugs.
 * The message names the source and the problem and, where it helps, the fix. The CLI maps this
 * class to exit code 2.
 */
export class InputError extends Error {
  override readonly name = 'InputError';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Whether `e` is an InputError (also across module copies, by name). */
export function isInputError(e: unknown): e is InputError {
  return e instanceof InputError || (e instanceof Error && e.name === 'InputError');
}

/** Read a whole input file, or throw an InputError naming the file and why it cannot be read. */
export function readInputBytes(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : code === 'EACCES' ? 'permission denied' : (e as Error).message;
    throw new InputError(`cannot read ${path}: ${why}`, { cause: e });
  }
}
