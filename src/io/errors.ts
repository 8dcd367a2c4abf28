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
