/** Parsers for command-line values: each names the option and the accepted form when it fails. */
import { InvalidArgumentError } from 'commander';

export function parseNonNegativeInt(value: string): number {
  const v = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(v)) {
    throw new InvalidArgumentError(`expected a non-negative integer, got '${value}'`);
  }
  return v;
}

export function parsePositiveInt(value: string): number {
  const v = parseNonNegativeInt(value);
  if (v < 1) throw new InvalidArgumentError(`expected a positive integer, got '${value}'`);
  return v;
}

export function parsePositiveNumber(value: string): number {
  const v = Number(value);
  if (value.trim() === '' || !Number.isFinite(v) || v <= 0) {
    throw new InvalidArgumentError(`expected a positive number, got '${value}'`);
  }
  return v;
}

/** A comma-separated list whose items must come from `allowed`. */
export function listParser(allowed: readonly string[]): (value: string) => string[] {
  return (value: string) => {
    const items = value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
    const bad = items.filter((s) => !allowed.includes(s));
    if (items.length === 0 || bad.length > 0) {
      throw new InvalidArgumentError(`unknown item(s) ${bad.map((b) => `'${b}'`).join(', ') || '(empty list)'}; choose from ${allowed.join(', ')}`);
    }
    return [...new Set(items)];
  };
}

/** A value that must be one of `allowed`. */
export function choiceParser(allowed: readonly string[]): (value: string) => string {
  return (value: string) => {
    if (!allowed.includes(value)) throw new InvalidArgumentError(`unknown value '${value}'; choose from ${allowed.join(', ')}`);
    return value;
  };
}

/** A number in [0, 1). */
export function parseUnitInterval(value: string): number {
  const v = Number(value);
  if (value.trim() === '' || !Number.isFinite(v) || v < 0 || v >= 1) {
    throw new InvalidArgumentError(`expected a number in [0, 1), got '${value}'`);
  }
  return v;
}

/** `--engine` and `--ort-threads` of the commands that run a `--model`'s network. */
export const ENGINE_HELP = 'engine of the network forward passes: auto (onnxruntime-node when installed, else jax-js), onnxruntime, jax ' +
  '[auto; a checkpoint\'s network (MLP or EGNN) runs on onnxruntime through an in-memory ONNX export]';
export const ORT_THREADS_HELP = 'onnxruntime intra-op threads [2; 1 per worker when --threads > 1, so that the workers do not oversubscribe the cores]';
