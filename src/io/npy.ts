/**
 * Strict reader and atomic writer for NumPy's `.npy` format (format versions 1.0, 2.0 and 3.0;
 * https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html).
 *
 * Reading accepts little-endian float32/float64/int32/int64 (`<f4`, `<f8`, `<i4`, `<i8`; `|`
 * or `=` byte order is not accepted for multi-byte types) and returns float64. int64 values
 * outside +-2^53 are rejected because they have no exact float64. Big-endian, object (pickled),
 * structured and other dtypes are rejected with the `astype` call that fixes them.
 * `fortran_order: True` arrays are accepted and reordered to row-major (C order), so the
 * returned `data` is always C order whatever the file's layout.
 * The header is parsed as the strict subset of a Python dict literal that NumPy writes: the
 * three keys `descr`, `fortran_order`, `shape` exactly once each, string/bool/int-tuple values,
 * optional trailing comma, then only spaces and a newline. The data must be exactly
 * `prod(shape) * itemsize` bytes: truncated files and trailing bytes are both errors.
 * Every problem with the input raises `InputError` naming the source.
 */
import { firstNonFinite, type Batch } from '../core/batch.js';
import { writeFileAtomic } from './atomic.js';
import { InputError, readInputBytes } from './errors.js';

/** The dtypes this module reads and writes. */
export type NpyDtype = '<f4' | '<f8' | '<i4' | '<i8';

export interface NpyArray {
  readonly shape: number[];
  /** The dtype stored in the file (data is converted to float64). */
  readonly dtype: NpyDtype;
  /** Row-major (C order) values. */
  readonly data: Float64Array;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const ITEMSIZE: Record<NpyDtype, number> = { '<f4': 4, '<f8': 8, '<i4': 4, '<i8': 8 };

// ---------------------------------------------------------------------------------------------
// Header dict parser (strict Python-literal subset)

type PyValue = { kind: 'str'; v: string } | { kind: 'bool'; v: boolean } | { kind: 'tuple'; v: number[] };

class HeaderParser {
  private i = 0;
  constructor(
    private readonly s: string,
    private readonly source: string,
  ) {}

  private fail(what: string): never {
    const near = JSON.stringify(this.s.slice(Math.max(0, this.i - 10), this.i + 20));
    throw new InputError(`${this.source}: malformed .npy header: ${what} at character ${this.i} (near ${near})`);
  }

  private ws(): void {
    while (this.i < this.s.length && (this.s[this.i] === ' ' || this.s[this.i] === '\t')) this.i++;
  }

  private expect(ch: string): void {
    this.ws();
    if (this.s[this.i] !== ch) this.fail(`expected '${ch}'`);
    this.i++;
  }

  private string(): string {
    this.ws();
    const q = this.s[this.i];
    if (q !== "'" && q !== '"') this.fail('expected a quoted string');
    const end = this.s.indexOf(q, this.i + 1);
    if (end < 0) this.fail('unterminated string');
    const v = this.s.slice(this.i + 1, end);
    if (v.includes('\\')) this.fail('escape sequences in strings are not supported');
    if (v.includes('\n')) this.fail('newline inside a string');
    this.i = end + 1;
    return v;
  }

  private int(): number {
    this.ws();
    const m = /^(-?)(\d+)L?/.exec(this.s.slice(this.i));
    if (!m) this.fail('expected a non-negative integer in the shape');
    if (m[1] === '-') this.fail(`negative dimension -${m[2]} in the shape`);
    const v = Number(m[2]);
    if (!Number.isSafeInteger(v)) this.fail(`dimension ${m[2]} is too large`);
    this.i += m[0].length;
    return v;
  }

  private value(): PyValue {
    this.ws();
    const c = this.s[this.i];
    if (c === "'" || c === '"') return { kind: 'str', v: this.string() };
    if (this.s.startsWith('True', this.i)) {
      this.i += 4;
      return { kind: 'bool', v: true };
    }
    if (this.s.startsWith('False', this.i)) {
      this.i += 5;
      return { kind: 'bool', v: false };
    }
    if (c === '[') {
      throw new InputError(`${this.source}: structured (record) dtypes are not supported (the header holds a list of fields); save a plain numeric array`);
    }
    if (c === '(') {
      this.i++;
      const dims: number[] = [];
      this.ws();
      if (this.s[this.i] === ')') {
        this.i++;
        return { kind: 'tuple', v: dims };
      }
      for (;;) {
        dims.push(this.int());
        this.ws();
        if (this.s[this.i] === ',') {
          this.i++;
          this.ws();
          if (this.s[this.i] === ')') {
            this.i++;
            break;
          }
          continue;
        }
        if (this.s[this.i] === ')') {
          // Python needs a trailing comma for a 1-tuple: `(5)` is the int 5, not a shape.
          if (dims.length === 1) this.fail('a one-element shape must be written (n,)');
          this.i++;
          break;
        }
        this.fail("expected ',' or ')' in the shape tuple");
      }
      return { kind: 'tuple', v: dims };
    }
    this.fail('expected a string, True, False or a tuple');
  }

  parse(): Map<string, PyValue> {
    const out = new Map<string, PyValue>();
    this.expect('{');
    for (;;) {
      this.ws();
      if (this.s[this.i] === '}') {
        this.i++;
        break;
      }
      const key = this.string();
      if (out.has(key)) this.fail(`duplicate key '${key}'`);
      this.expect(':');
      out.set(key, this.value());
      this.ws();
      if (this.s[this.i] === ',') {
        this.i++;
        continue;
      }
      if (this.s[this.i] === '}') {
        this.i++;
        break;
      }
      this.fail("expected ',' or '}'");
    }
    // NumPy pads with spaces and ends the header with one newline.
    const rest = this.s.slice(this.i);
    if (!/^ *\n?$/.test(rest)) this.fail('unexpected text after the header dict (only space padding and a newline may follow)');
    return out;
  }
}

function dtypeProblem(descr: string, source: string): InputError {
  const kind = descr.replace(/^[<>=|]/, '');
  if (descr === 'O' || descr === '|O' || kind === 'O') {
    return new InputError(`${source}: object arrays (pickled Python objects) are not supported; save a numeric array, e.g. np.save(path, arr.astype('<f8'))`);
  }
  if (descr.startsWith('>') && ['f4', 'f8', 'i4', 'i8'].includes(kind)) {
    return new InputError(`${source}: big-endian dtype '${descr}' is not supported; convert with arr.astype('<${kind}')`);
  }
  return new InputError(`${source}: unsupported dtype '${descr}'; supported: little-endian '<f4', '<f8', '<i4', '<i8' (convert with arr.astype('<f8'))`);
}

function product(shape: number[], source: string): number {
  let p = 1;
  for (const d of shape) {
    p *= d;
    if (!Number.isSafeInteger(p)) throw new InputError(`${source}: shape (${shape.join(', ')}) has too many elements`);
  }
  return p;
}

function shapeStr(shape: readonly number[]): string {
  return shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
}

/** Parse the bytes of a .npy file. `source` names it in error messages. */
export function parseNpy(bytes: Uint8Array, source = 'input'): NpyArray {
  // 1. Magic string and version.
  if (bytes.length < 8 || MAGIC.some((b, k) => bytes[k] !== b)) {
    throw new InputError(`${source}: not a .npy file (it does not start with the magic string \\x93NUMPY)`);
  }
  const major = bytes[6];
  const minor = bytes[7];
  if (!((major === 1 || major === 2 || major === 3) && minor === 0)) {
    throw new InputError(`${source}: unsupported .npy format version ${major}.${minor} (supported: 1.0, 2.0, 3.0)`);
  }
  // 2. Header length.
  const lenBytes = major === 1 ? 2 : 4;
  const start = 8 + lenBytes;
  if (bytes.length < start) {
    throw new InputError(`${source}: truncated .npy file: ${bytes.length} bytes, too short for the header length field`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = major === 1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  const dataStart = start + headerLen;
  if (bytes.length < dataStart) {
    throw new InputError(`${source}: truncated .npy header: it declares ${headerLen} header bytes but only ${bytes.length - start} follow`);
  }
  // 3. Header text: latin-1 for versions 1 and 2, UTF-8 for version 3.
  const raw = bytes.subarray(start, dataStart);
  let header: string;
  if (major === 3) {
    try {
      header = new TextDecoder('utf-8', { fatal: true }).decode(raw);
    } catch {
      throw new InputError(`${source}: malformed .npy header: not valid UTF-8`);
    }
  } else {
    header = '';
    for (let k = 0; k < raw.length; k++) header += String.fromCharCode(raw[k]);
  }
  // 4. The dict.
  const dict = new HeaderParser(header, source).parse();
  for (const key of dict.keys()) {
    if (key !== 'descr' && key !== 'fortran_order' && key !== 'shape') {
      throw new InputError(`${source}: malformed .npy header: unexpected key '${key}' (allowed: descr, fortran_order, shape)`);
    }
  }
  const descrV = dict.get('descr');
  const fortranV = dict.get('fortran_order');
  const shapeV = dict.get('shape');
  if (!descrV || !fortranV || !shapeV) {
    const missing = ['descr', 'fortran_order', 'shape'].filter((k) => !dict.has(k));
    throw new InputError(`${source}: malformed .npy header: missing key ${missing.map((k) => `'${k}'`).join(', ')}`);
  }
  if (descrV.kind !== 'str') throw new InputError(`${source}: malformed .npy header: 'descr' must be a string`);
  if (fortranV.kind !== 'bool') throw new InputError(`${source}: malformed .npy header: 'fortran_order' must be True or False`);
  if (shapeV.kind !== 'tuple') throw new InputError(`${source}: malformed .npy header: 'shape' must be a tuple of integers`);
  const descr = descrV.v;
  if (!(descr in ITEMSIZE)) throw dtypeProblem(descr, source);
  const dtype = descr as NpyDtype;
  const shape = shapeV.v;
  // 5. Exact byte count.
  const count = product(shape, source);
  const itemsize = ITEMSIZE[dtype];
  const expected = count * itemsize;
  const found = bytes.length - dataStart;
  if (found < expected) {
    throw new InputError(
      `${source}: truncated .npy data: shape ${shapeStr(shape)} of ${dtype} needs ${expected} data bytes, found ${found} ` +
        `(the file is ${expected - found} bytes short; was it copied or written completely?)`,
    );
  }
  if (found > expected) {
    throw new InputError(`${source}: ${found - expected} unexpected bytes after the data (shape ${shapeStr(shape)} of ${dtype} needs exactly ${expected} data bytes)`);
  }
  // 6. Values.
  const data = new Float64Array(count);
  if (dtype === '<f8') for (let k = 0; k < count; k++) data[k] = dv.getFloat64(dataStart + 8 * k, true);
  else if (dtype === '<f4') for (let k = 0; k < count; k++) data[k] = dv.getFloat32(dataStart + 4 * k, true);
  else if (dtype === '<i4') for (let k = 0; k < count; k++) data[k] = dv.getInt32(dataStart + 4 * k, true);
  else {
    for (let k = 0; k < count; k++) {
      const v = dv.getBigInt64(dataStart + 8 * k, true);
      if (v > 9007199254740992n || v < -9007199254740992n) {
        throw new InputError(`${source}: int64 value ${v} at flat index ${k} has no exact float64; convert with arr.astype('<f8') if rounding is acceptable`);
      }
      data[k] = Number(v);
    }
  }
  return { shape: shape.slice(), dtype, data: fortranV.v ? fortranToC(data, shape) : data };
}

/** Reorder column-major (Fortran) values of `shape` to row-major. */
function fortranToC(f: Float64Array, shape: readonly number[]): Float64Array {
  const nd = shape.length;
  if (nd < 2 || f.length === 0) return f;
  const c = new Float64Array(f.length);
  const fStride = new Array<number>(nd);
  let s = 1;
  for (let j = 0; j < nd; j++) {
    fStride[j] = s;
    s *= shape[j];
  }
  const idx = new Array<number>(nd).fill(0);
  let fOff = 0;
  for (let k = 0; k < c.length; k++) {
    c[k] = f[fOff];
    // Advance the C-order multi-index (last axis fastest), keeping the Fortran offset in step.
    for (let j = nd - 1; j >= 0; j--) {
      idx[j]++;
      fOff += fStride[j];
      if (idx[j] < shape[j]) break;
      fOff -= fStride[j] * shape[j];
      idx[j] = 0;
    }
  }
  return c;
}

/** Read and parse a .npy file. */
export function readNpy(path: string): NpyArray {
  return parseNpy(readInputBytes(path), path);
}

/**
 * Throw InputError when a loaded batch holds NaN or Inf, naming the source, row and column
 * (the InputError form of core/batch's `assertFinite`).
 */
export function assertFiniteInput(b: Batch, source: string): void {
  const k = firstNonFinite(b.data);
  if (k >= 0) {
    throw new InputError(`${source}: non-finite value ${b.data[k]} at row ${Math.floor(k / b.dim)}, column ${k % b.dim} (0-based); remove or fix such rows`);
  }
}

export interface ReadNpyBatchOptions {
  /** Required number of columns; a file with another dimension is rejected. */
  readonly dim?: number;
  /** Accept a 1-D array of length n as an n x 1 batch [false]. */
  readonly allow1D?: boolean;
  /** Accept NaN/Inf values [false: rejected with their row and column]. */
  readonly allowNonFinite?: boolean;
}

/** Read a 2-D .npy array (n rows x dim columns) as a Batch. */
export function readNpyBatch(path: string, opts: ReadNpyBatchOptions = {}): Batch {
  const a = readNpy(path);
  let n: number;
  let dim: number;
  if (a.shape.length === 2) {
    [n, dim] = a.shape;
  } else if (a.shape.length === 1 && opts.allow1D) {
    [n, dim] = [a.shape[0], 1];
  } else {
    const hint =
      a.shape.length === 1
        ? `; if these are ${a.shape[0]} one-dimensional points, save arr.reshape(-1, 1)`
        : a.shape.length > 2
          ? `; flatten each point first, e.g. arr.reshape(${a.shape[0]}, -1)`
          : '';
    throw new InputError(`${path}: expected a 2-D array of points (n, dim), got shape ${shapeStr(a.shape)}${hint}`);
  }
  if (dim < 1) throw new InputError(`${path}: points must have at least one coordinate, got shape ${shapeStr(a.shape)}`);
  if (opts.dim !== undefined && dim !== opts.dim) {
    throw new InputError(`${path}: points have dimension ${dim} (shape ${shapeStr(a.shape)}) but ${opts.dim} is expected`);
  }
  const b: Batch = { n, dim, data: a.data };
  if (!opts.allowNonFinite) assertFiniteInput(b, path);
  return b;
}

// ---------------------------------------------------------------------------------------------
// Writing

/** Encode an array as .npy bytes (version 1.0, or 2.0 for headers over 65535 bytes). */
export function encodeNpy(arr: { shape: readonly number[]; data: ArrayLike<number> }, dtype: NpyDtype = '<f8'): Uint8Array {
  if (!(dtype in ITEMSIZE)) throw new RangeError(`encodeNpy: unsupported dtype '${dtype}'`);
  for (const d of arr.shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new RangeError(`encodeNpy: shape entries must be non-negative integers, got (${arr.shape.join(', ')})`);
  }
  const count = arr.shape.reduce((p, d) => p * d, 1);
  if (count !== arr.data.length) throw new RangeError(`encodeNpy: shape ${shapeStr(arr.shape)} needs ${count} values, got ${arr.data.length}`);
  const dict = `{'descr': '${dtype}', 'fortran_order': False, 'shape': ${shapeStr(arr.shape)}, }`;
  // Pad so that the data starts at a multiple of 64 bytes, header ending in '\n'.
  let version = 1;
  let pre = 10;
  let total = Math.ceil((pre + dict.length + 1) / 64) * 64;
  if (total - pre > 0xffff) {
    version = 2;
    pre = 12;
    total = Math.ceil((pre + dict.length + 1) / 64) * 64;
  }
  const headerLen = total - pre;
  const itemsize = ITEMSIZE[dtype];
  const out = new Uint8Array(total + count * itemsize);
  const dv = new DataView(out.buffer);
  out.set(MAGIC, 0);
  out[6] = version;
  out[7] = 0;
  if (version === 1) dv.setUint16(8, headerLen, true);
  else dv.setUint32(8, headerLen, true);
  const text = dict + ' '.repeat(headerLen - dict.length - 1) + '\n';
  for (let k = 0; k < text.length; k++) out[pre + k] = text.charCodeAt(k);
  const d = arr.data;
  if (dtype === '<f8') for (let k = 0; k < count; k++) dv.setFloat64(total + 8 * k, d[k], true);
  else if (dtype === '<f4') for (let k = 0; k < count; k++) dv.setFloat32(total + 4 * k, d[k], true);
  else {
    for (let k = 0; k < count; k++) {
      const v = d[k];
      const ok = dtype === '<i4' ? v >= -2147483648 && v <= 2147483647 : Math.abs(v) <= 9007199254740992;
      if (!Number.isInteger(v) || !ok) throw new RangeError(`encodeNpy: value ${v} at flat index ${k} is not representable as ${dtype}`);
      if (dtype === '<i4') dv.setInt32(total + 4 * k, v, true);
      else dv.setBigInt64(total + 8 * k, BigInt(v), true);
    }
  }
  return out;
}

function isBatch(x: Batch | { shape: readonly number[]; data: ArrayLike<number> }): x is Batch {
  return 'n' in x && 'dim' in x;
}

/** Write a batch (as shape (n, dim)) or a `{shape, data}` array to a .npy file, atomically. */
export function writeNpy(path: string, arr: Batch | { shape: readonly number[]; data: ArrayLike<number> }, dtype: NpyDtype = '<f8'): void {
  const a = isBatch(arr) ? { shape: [arr.n, arr.dim], data: arr.data } : arr;
  writeFileAtomic(path, encodeNpy(a, dtype));
}
