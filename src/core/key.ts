/**
 * Explicit, immutable, splittable PRNG keys on the counter-based Threefry-2x32 hash
 * (Salmon et al. 2011, "Parallel random numbers: as easy as 1, 2, 3"; 20 rounds, as in JAX).
 *
 * A key is two 32-bit words. Every random function takes a key as its first argument and never
 * mutates it; the same key always gives the same numbers. Streams are separated by the second
 * counter word: 0 for random bits, 1 for `foldIn`, 2 for `split`, so that the three uses of one
 * key never share a hash input.
 */
import { makeBatch, type Batch } from './batch.js';

export interface Key {
  readonly k0: number;
  readonly k1: number;
}

const SKEIN_PARITY = 0x1bd11bda;

/** The two output words of the last `hash` call, as int32 (read with `>>> 0` for uint32). */
let h0 = 0;
let h1 = 0;

/**
 * Threefry-2x32, 20 rounds (rotations 13 15 26 6 / 17 29 16 24, key injection every 4 rounds),
 * unrolled on int32 words into `h0`, `h1`: no allocation per call. The loop form with a key
 * array spent ~11% of a DW-4 training run's profile in `normal` (measured).
 */
function hash(k0: number, k1: number, c0: number, c1: number): void {
  const ks2 = SKEIN_PARITY ^ k0 ^ k1;
  let x0 = (c0 + k0) | 0;
  let x1 = (c1 + k1) | 0;
  x0 = (x0 + x1) | 0; x1 = ((x1 << 13) | (x1 >>> 19)) ^ x0;
  x0 = (x0 + x1) | 0; x1 = ((x1 << 15) | (x1 >>> 17)) ^ x0;
  x0 = (x0 + x1) | 0; x1 = ((x1 << 26) | (x1 >>> 6)) ^ x0;
  x0 = (x0 + x1) | 0; x1 = ((x1 << 6) | (x1 >>> 26)) ^ x0;
  x0 = (x0 + k1) | 0; x1 = (x1 + ks2 + 1) | 0;
  x0 = (x0 + x1) | 0; x1 = ((x1 << 17) | (x1 >>> 15)) ^ x0;
  x0 = (x0 + x1) | 0; x1 = ((x1 << 29) | (x1 >>> 3)) ^ x0;
  x0 = (x0 + x1) | 0; x1 = ((x1 << 16) | (x1 >>> 16)) ^ x0;
  x0 = (x0 + x1) | 0; x1 = ((x1 << 24) | (x1 >>> 8)) ^ x0;
  x0 = (x0 + ks2) | 0; x1 = (x1 + k0 + 2) | 0;
  x0 = (x0 + x1) | 0; x1 = ((x1 << 13) | (x1 >>> 19)) ^ x0;
  x0 = (x0 + x1) | 0; x1 = ((x1 << 15) | (x1 >>> 17)) ^ x0;
  x0 = (x0 + x1) | 0; x1 = ((x1 << 26) | (x1 >>> 6)) ^ x0;
  x0 = (x0 + x1) | 0; x1 = ((x1 << 6) | (x1 >>> 26)) ^ x0;
  x0 = (x0 + k0) | 0; x1 = (x1 + k1 + 3) | 0;
  x0 = (x0 + x1) | 0; x1 = ((x1 << 17) | (x1 >>> 15)) ^ x0;
  x0 = (x0 + x1) | 0; x1 = ((x1 << 29) | (x1 >>> 3)) ^ x0;
  x0 = (x0 + x1) | 0; x1 = ((x1 << 16) | (x1 >>> 16)) ^ x0;
  x0 = (x0 + x1) | 0; x1 = ((x1 << 24) | (x1 >>> 8)) ^ x0;
  x0 = (x0 + k1) | 0; x1 = (x1 + ks2 + 4) | 0;
  x0 = (x0 + x1) | 0; x1 = ((x1 << 13) | (x1 >>> 19)) ^ x0;
  x0 = (x0 + x1) | 0; x1 = ((x1 << 15) | (x1 >>> 17)) ^ x0;
  x0 = (x0 + x1) | 0; x1 = ((x1 << 26) | (x1 >>> 6)) ^ x0;
  x0 = (x0 + x1) | 0; x1 = ((x1 << 6) | (x1 >>> 26)) ^ x0;
  h0 = (x0 + ks2) | 0;
  h1 = (x1 + k0 + 5) | 0;
}

/**
 * Threefry-2x32 with 20 rounds: hash counter `(c0, c1)` under key `(k0, k1)`. Writes the two
 * output words to `out[offset]`, `out[offset+1]` (Random123's known-answer vectors are tested).
 */
export function threefry2x32(k0: number, k1: number, c0: number, c1: number, out: Uint32Array, offset = 0): void {
  hash(k0 | 0, k1 | 0, c0 | 0, c1 | 0);
  out[offset] = h0;
  out[offset + 1] = h1;
}

const STREAM_BITS = 0;
const STREAM_FOLD = 1;
const STREAM_SPLIT = 2;
function hashKey(key: Key, c0: number, stream: number): Key {
  hash(key.k0 | 0, key.k1 | 0, c0 | 0, stream);
  return { k0: h0 >>> 0, k1: h1 >>> 0 };
}

/** A key from a non-negative integer seed (seed 0 is a valid seed). */
export function keyFromSeed(seed: number): Key {
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new RangeError(`seed must be a non-negative integer below 2^53, got ${seed}`);
  }
  return { k0: Math.floor(seed / 4294967296) >>> 0, k1: seed >>> 0 };
}

/** `n` independent keys derived from `key`. */
export function split(key: Key, n = 2): Key[] {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`split needs a positive count, got ${n}`);
  const keys: Key[] = [];
  for (let i = 0; i < n; i++) keys.push(hashKey(key, i, STREAM_SPLIT));
  return keys;
}

/**
 * A new key for index `data` (a non-negative integer below 2^32): chain or row i uses
 * `foldIn(key, i)`, so its numbers do not depend on how many other chains run.
 */
export function foldIn(key: Key, data: number): Key {
  if (!Number.isInteger(data) || data < 0 || data > 0xffffffff) {
    throw new RangeError(`foldIn data must be an integer in [0, 2^32), got ${data}`);
  }
  return hashKey(key, data, STREAM_FOLD);
}

/** `n` random 32-bit words: word 2j and 2j+1 are the hash of counter j. */
export function randomBits(key: Key, n: number): Uint32Array {
  const out = new Uint32Array(n + (n & 1));
  for (let j = 0; 2 * j < n; j++) {
    hash(key.k0 | 0, key.k1 | 0, j, STREAM_BITS);
    out[2 * j] = h0;
    out[2 * j + 1] = h1;
  }
  return n & 1 ? out.subarray(0, n) : out;
}

const TWO_POW_26 = 67108864;
const TWO_POW_53 = 9007199254740992;

/**
 * `n` uniforms on the open interval (0, 1) with 53 random bits each (value j uses counter j),
 * scaled to (lo, hi) when given.
 */
export function uniform(key: Key, n: number, lo = 0, hi = 1): Float64Array {
  const out = new Float64Array(n);
  const k0 = key.k0 | 0;
  const k1 = key.k1 | 0;
  const span = hi - lo;
  for (let j = 0; j < n; j++) out[j] = lo + span * unitAt(k0, k1, j);
  return out;
}

/** The uniform of counter j: `(a * 2^26 + b + 1/2) / 2^53` lies strictly inside (0, 1), so logs of u and 1-u are finite. */
function unitAt(k0: number, k1: number, j: number): number {
  hash(k0, k1, j | 0, STREAM_BITS);
  return ((h0 >>> 5) * TWO_POW_26 + (h1 >>> 6) + 0.5) / TWO_POW_53;
}

/** `n` standard normals by the Box–Muller transform of pairs of uniforms. */
export function normal(key: Key, n: number): Float64Array {
  const m = n + (n & 1);
  const k0 = key.k0 | 0;
  const k1 = key.k1 | 0;
  const out = new Float64Array(m);
  for (let j = 0; j < m; j += 2) {
    const r = Math.sqrt(-2 * Math.log(unitAt(k0, k1, j)));
    const theta = 2 * Math.PI * unitAt(k0, k1, j + 1);
    out[j] = r * Math.cos(theta);
    out[j + 1] = r * Math.sin(theta);
  }
  return n & 1 ? out.subarray(0, n) : out;
}

/** An `n x dim` batch of standard normals. */
export function normalBatch(key: Key, n: number, dim: number): Batch {
  return makeBatch(n, dim, normal(key, n * dim));
}

/**
 * One draw per row of `logits` (`rows x k`, unnormalised log-probabilities; `-Infinity` allowed)
 * by the Gumbel-max trick. Returns category indices.
 */
export function categorical(key: Key, logits: Float64Array, rows: number, k: number): Int32Array {
  if (logits.length !== rows * k) throw new RangeError(`categorical: ${logits.length} logits for ${rows} x ${k}`);
  const u = uniform(key, rows * k);
  const out = new Int32Array(rows);
  for (let i = 0; i < rows; i++) {
    let best = -Infinity;
    let arg = -1;
    for (let j = 0; j < k; j++) {
      const l = logits[i * k + j];
      if (Number.isNaN(l)) throw new RangeError(`categorical: NaN logit at row ${i}, category ${j}`);
      const g = l - Math.log(-Math.log(u[i * k + j]));
      if (g > best) {
        best = g;
        arg = j;
      }
    }
    if (arg < 0) throw new RangeError(`categorical: row ${i} has no category with finite logit`);
    out[i] = arg;
  }
  return out;
}

/** `n` integers uniform on {0, ..., m-1}. */
export function randint(key: Key, n: number, m: number): Int32Array {
  const u = uniform(key, n);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.min(m - 1, Math.floor(u[i] * m));
  return out;
}

/** A uniformly random permutation of {0, ..., n-1} (Fisher–Yates). */
export function permutation(key: Key, n: number): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  const u = uniform(key, n);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.min(i, Math.floor(u[i] * (i + 1)));
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}

/** The key's two words, for checkpoints and run metadata. */
export function keyData(key: Key): [number, number] {
  return [key.k0, key.k1];
}

/** A key from the two words `keyData` returned. */
export function keyFromData(words: readonly number[]): Key {
  if (words.length !== 2 || words.some((w) => !Number.isInteger(w) || w < 0 || w > 0xffffffff)) {
    throw new RangeError(`a key is two 32-bit unsigned integers, got ${JSON.stringify(words)}`);
  }
  return { k0: words[0], k1: words[1] };
}
