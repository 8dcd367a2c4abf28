/**
 * Strict reader and atomic writer for Hugging Face's safetensors format
 * (https://github.com/huggingface/safetensors, "Format" in its README).
 *
 * Layout: 8 bytes `N` (unsigned 64-bit little-endian), then `N` bytes of UTF-8 JSON (the header,
 * which must start with `{` and may be padded at the end with spaces), then the byte buffer.
 * The header maps each tensor name to `{"dtype", "shape", "data_offsets": [begin, end]}`, offsets
 * relative to the start of the byte buffer, end exclusive; the optional key `__metadata__` holds
 * a string-to-string map. Tensors are little-endian and row-major (C order).
 *
 * Reading is strict; every problem with the input raises `InputError` naming the source:
 * the header length must fit the file and be at most 100 MB; the header must be valid UTF-8
 * and a JSON object (parsed here by a strict RFC 8259 parser that also rejects duplicate keys
 * and lone surrogates); each entry has exactly the three keys; shapes and offsets are
 * non-negative integers below 2^53 written without fraction or exponent; each tensor's byte
 * range is exactly `prod(shape) * itemsize` and lies inside the buffer; and the ranges, sorted,
 * cover the whole buffer without overlaps, holes or trailing bytes (as the format requires).
 * Tensor data is copied into fresh, aligned typed arrays, never aliased onto the input.
 *
 * Dtypes: F64, F32, F16, BF16 (F16/BF16 decoded exactly to Float32Array; encoding rounds to
 * nearest, ties to even), I64, U64 (as Float64Array; values beyond +-2^53 are rejected), I32,
 * U32, I16, U16, I8, U8 and BOOL (Uint8Array of 0/1). The 8-bit float and complex dtypes of
 * newer writers are rejected with the list of supported ones.
 */
import { writeFileAtomic } from './atomic.js';
import { InputError, readInputBytes } from './errors.js';

/** The dtypes this module reads and writes. */
export type SafetensorsDtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'U64' | 'I32' | 'U32' | 'I16' | 'U16' | 'I8' | 'U8' | 'BOOL';

/** Decoded values: the typed array each dtype is read into. */
export type TensorData = Float64Array | Float32Array | Int32Array | Uint32Array | Int16Array | Uint16Array | Int8Array | Uint8Array;

export interface Tensor {
  readonly dtype: SafetensorsDtype;
  readonly shape: number[];
  /**
   * Row-major values: Float64Array for F64, I64 and U64; Float32Array for F32, F16 and BF16;
   * Int32Array, Uint32Array, Int16Array, Uint16Array, Int8Array, Uint8Array for the integer
   * types of that width; Uint8Array of 0/1 for BOOL.
   */
  readonly data: TensorData;
}

/** What `encodeSafetensors` accepts: any numbers of the right count for the dtype. */
export interface TensorInput {
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  readonly data: ArrayLike<number>;
}

export interface Safetensors {
  /** Tensors by name (an object without prototype, so any name is safe as a key). */
  readonly tensors: Record<string, Tensor>;
  /** The `__metadata__` map ({} when absent). */
  readonly metadata: Record<string, string>;
}

const ITEMSIZE: Record<SafetensorsDtype, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  U64: 8,
  I32: 4,
  U32: 4,
  I16: 2,
  U16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};
const SUPPORTED = Object.keys(ITEMSIZE) as SafetensorsDtype[];
/** Dtypes other writers use that we recognise but do not decode. */
const KNOWN_UNSUPPORTED = ['F8_E4M3', 'F8_E5M2', 'F8_E8M0', 'F4', 'F6_E2M3', 'F6_E3M2', 'C64', 'C128'];

/** Largest accepted header, as in the reference implementation. */
export const MAX_HEADER_BYTES = 100_000_000;
/** Deepest JSON nesting accepted while parsing (a valid header needs 3). */
const MAX_DEPTH = 64;

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const TWO53 = 9007199254740992;

// ---------------------------------------------------------------------------------------------
// Strict JSON (RFC 8259) with duplicate-key detection and exact integer lexemes

type Json =
  | { readonly t: 'obj'; readonly m: Map<string, Json> }
  | { readonly t: 'arr'; readonly a: Json[] }
  | { readonly t: 'str'; readonly v: string }
  | { readonly t: 'num'; readonly raw: string; readonly v: number }
  | { readonly t: 'bool'; readonly v: boolean }
  | { readonly t: 'null' };

const NUMBER_RE = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const HEX4_RE = /^[0-9a-fA-F]{4}$/;

class JsonParser {
  private i = 0;
  constructor(
    private readonly s: string,
    private readonly source: string,
  ) {}

  fail(what: string, at = this.i): never {
    const near = JSON.stringify(this.s.slice(Math.max(0, at - 12), at + 20));
    throw new InputError(`${this.source}: malformed safetensors header: ${what} at character ${at} of the JSON (near ${near})`);
  }

  private ws(): void {
    const s = this.s;
    for (;;) {
      const c = s.charCodeAt(this.i);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) this.i++;
      else return;
    }
  }

  /** Parse the whole text as one JSON value followed only by whitespace. */
  document(): Json {
    const v = this.value(0);
    this.ws();
    if (this.i !== this.s.length) this.fail('unexpected text after the JSON object (only space padding may follow)');
    return v;
  }

  private value(depth: number): Json {
    if (depth > MAX_DEPTH) this.fail(`JSON nested deeper than ${MAX_DEPTH} levels`);
    this.ws();
    const s = this.s;
    const c = s[this.i];
    if (c === '{') return this.object(depth);
    if (c === '[') return this.array(depth);
    if (c === '"') return { t: 'str', v: this.string() };
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) {
      NUMBER_RE.lastIndex = this.i;
      const m = NUMBER_RE.exec(s);
      if (!m) this.fail('malformed number');
      const raw = m[0];
      this.i += raw.length;
      return { t: 'num', raw, v: Number(raw) };
    }
    if (s.startsWith('true', this.i)) {
      this.i += 4;
      return { t: 'bool', v: true };
    }
    if (s.startsWith('false', this.i)) {
      this.i += 5;
      return { t: 'bool', v: false };
    }
    if (s.startsWith('null', this.i)) {
      this.i += 4;
      return { t: 'null' };
    }
    if (c === undefined) this.fail('unexpected end of the JSON');
    this.fail(`unexpected character ${JSON.stringify(c)}`);
  }

  private object(depth: number): Json {
    const m = new Map<string, Json>();
    this.i++; // '{'
    this.ws();
    if (this.s[this.i] === '}') {
      this.i++;
      return { t: 'obj', m };
    }
    for (;;) {
      this.ws();
      if (this.s[this.i] !== '"') this.fail('expected a quoted key');
      const at = this.i;
      const key = this.string();
      if (m.has(key)) this.fail(`duplicate key ${JSON.stringify(truncate(key))}`, at);
      this.ws();
      if (this.s[this.i] !== ':') this.fail("expected ':' after a key");
      this.i++;
      m.set(key, this.value(depth + 1));
      this.ws();
      const c = this.s[this.i];
      this.i++;
      if (c === ',') continue;
      if (c === '}') return { t: 'obj', m };
      this.fail("expected ',' or '}' in an object", this.i - 1);
    }
  }

  private array(depth: number): Json {
    const a: Json[] = [];
    this.i++; // '['
    this.ws();
    if (this.s[this.i] === ']') {
      this.i++;
      return { t: 'arr', a };
    }
    for (;;) {
      a.push(this.value(depth + 1));
      this.ws();
      const c = this.s[this.i];
      this.i++;
      if (c === ',') continue;
      if (c === ']') return { t: 'arr', a };
      this.fail("expected ',' or ']' in an array", this.i - 1);
    }
  }

  private string(): string {
    const s = this.s;
    this.i++; // opening quote
    let out = '';
    let run = this.i;
    for (;;) {
      if (this.i >= s.length) this.fail('unterminated string');
      const c = s.charCodeAt(this.i);
      if (c === 0x22) {
        out += s.slice(run, this.i);
        this.i++;
        return out;
      }
      if (c < 0x20) this.fail('unescaped control character in a string');
      if (c !== 0x5c) {
        this.i++;
        continue;
      }
      out += s.slice(run, this.i);
      const e = s[this.i + 1];
      this.i += 2;
      switch (e) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          const u = this.hex4(this.i);
          this.i += 4;
          if (u >= 0xd800 && u <= 0xdbff) {
            // A high surrogate must be followed by an escaped low surrogate.
            if (s[this.i] !== '\\' || s[this.i + 1] !== 'u') this.fail('lone surrogate \\u escape in a string', this.i - 6);
            const lo = this.hex4(this.i + 2);
            if (lo < 0xdc00 || lo > 0xdfff) this.fail('lone surrogate \\u escape in a string', this.i - 6);
            this.i += 6;
            out += String.fromCharCode(u, lo);
          } else if (u >= 0xdc00 && u <= 0xdfff) {
            this.fail('lone surrogate \\u escape in a string', this.i - 6);
          } else {
            out += String.fromCharCode(u);
          }
          break;
        }
        default:
          this.fail('invalid escape sequence in a string', this.i - 2);
      }
      run = this.i;
    }
  }

  private hex4(at: number): number {
    const h = this.s.slice(at, at + 4);
    if (!HEX4_RE.test(h)) this.fail('invalid \\u escape (four hex digits expected)', at - 2);
    return parseInt(h, 16);
  }
}

function truncate(s: string, n = 60): string {
  return s.length <= n ? s : `${s.slice(0, n)}...`;
}

// ---------------------------------------------------------------------------------------------
// Half-precision conversions

const f32Scratch = new DataView(new ArrayBuffer(4));

function f16ToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 31) return m === 0 ? sign * Infinity : NaN;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

function bf16ToNumber(h: number): number {
  f32Scratch.setUint32(0, h << 16);
  return f32Scratch.getFloat32(0);
}

/** Round half to even for non-negative x below 2^52. */
function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * The bits of the binary float with `expBits` exponent and `manBits` mantissa bits nearest to
 * `x` (ties to even, overflow to infinity, NaN to the canonical quiet NaN).
 */
function toSmallFloatBits(x: number, expBits: number, manBits: number): number {
  const signBit = 1 << (expBits + manBits);
  const expAll = (1 << expBits) - 1;
  if (Number.isNaN(x)) return (expAll << manBits) | (1 << (manBits - 1));
  const sign = x < 0 || Object.is(x, -0) ? signBit : 0;
  const a = Math.abs(x);
  if (a === Infinity) return sign | (expAll << manBits);
  const bias = (1 << (expBits - 1)) - 1;
  const emin = 1 - bias;
  if (a < 2 ** emin) {
    // Subnormal (a carry into the exponent field gives the smallest normal, as it should).
    return sign | roundHalfEven(a * 2 ** (manBits - emin));
  }
  let e = Math.floor(Math.log2(a));
  while (2 ** e > a) e--;
  while (2 ** (e + 1) <= a) e++;
  let q = roundHalfEven((a / 2 ** e - 1) * 2 ** manBits);
  if (q === 2 ** manBits) {
    e++;
    q = 0;
  }
  if (e > bias) return sign | (expAll << manBits);
  return sign | ((e + bias) << manBits) | q;
}

// ---------------------------------------------------------------------------------------------
// Reading

function dtypeError(source: string, name: string, dtype: string): InputError {
  const list = SUPPORTED.join(', ');
  if (KNOWN_UNSUPPORTED.includes(dtype)) {
    return new InputError(`${source}: tensor '${truncate(name)}' has dtype ${dtype}, which is not supported (supported: ${list}); convert it, e.g. tensor.to(torch.float32), before saving`);
  }
  return new InputError(`${source}: tensor '${truncate(name)}' has unknown dtype ${JSON.stringify(truncate(dtype))} (supported: ${list})`);
}

/** A JSON number that is a non-negative integer below 2^53 written without fraction/exponent. */
function exactIndex(v: Json): number | undefined {
  if (v.t !== 'num' || !/^(?:0|[1-9][0-9]*)$/.test(v.raw) || !Number.isSafeInteger(v.v)) return undefined;
  return v.v;
}

function describe(v: Json): string {
  return v.t === 'num' ? v.raw : v.t === 'str' ? JSON.stringify(truncate(v.v)) : v.t === 'obj' ? 'an object' : v.t === 'arr' ? 'an array' : v.t === 'null' ? 'null' : String(v.v);
}

interface Entry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  count: number;
  begin: number;
  end: number;
}

function parseEntry(name: string, v: Json, source: string, bufferLen: number): Entry {
  const where = `${source}: tensor '${truncate(name)}'`;
  if (v.t !== 'obj') throw new InputError(`${where}: entry must be an object with dtype, shape and data_offsets, got ${describe(v)}`);
  for (const k of v.m.keys()) {
    if (k !== 'dtype' && k !== 'shape' && k !== 'data_offsets') {
      throw new InputError(`${where}: unexpected key ${JSON.stringify(truncate(k))} in the entry (allowed: dtype, shape, data_offsets)`);
    }
  }
  const dtypeV = v.m.get('dtype');
  const shapeV = v.m.get('shape');
  const offV = v.m.get('data_offsets');
  if (!dtypeV || !shapeV || !offV) {
    const missing = ['dtype', 'shape', 'data_offsets'].filter((k) => !v.m.has(k));
    throw new InputError(`${where}: entry lacks ${missing.join(', ')}`);
  }
  if (dtypeV.t !== 'str') throw new InputError(`${where}: dtype must be a string, got ${describe(dtypeV)}`);
  if (!Object.prototype.hasOwnProperty.call(ITEMSIZE, dtypeV.v)) throw dtypeError(source, name, dtypeV.v);
  const dtype = dtypeV.v as SafetensorsDtype;
  if (shapeV.t !== 'arr') throw new InputError(`${where}: shape must be an array of non-negative integers, got ${describe(shapeV)}`);
  const shape: number[] = [];
  for (const d of shapeV.a) {
    const n = exactIndex(d);
    if (n === undefined) throw new InputError(`${where}: shape entries must be non-negative integers below 2^53, got ${describe(d)}`);
    shape.push(n);
  }
  // A zero dimension makes the count 0 whatever the others are.
  const count = shape.includes(0) ? 0 : shape.reduce((p, d) => p * d, 1);
  if (!Number.isSafeInteger(count) || !Number.isSafeInteger(count * ITEMSIZE[dtype])) {
    throw new InputError(`${where}: shape [${shape.join(', ')}] has too many elements`);
  }
  if (offV.t !== 'arr' || offV.a.length !== 2) {
    throw new InputError(`${where}: data_offsets must be an array [begin, end] of two integers, got ${offV.t === 'arr' ? `${offV.a.length} values` : describe(offV)}`);
  }
  const begin = exactIndex(offV.a[0]);
  const end = exactIndex(offV.a[1]);
  if (begin === undefined || end === undefined) {
    throw new InputError(`${where}: data_offsets must be non-negative integers below 2^53, got [${offV.a.map(describe).join(', ')}]`);
  }
  if (begin > end) throw new InputError(`${where}: data_offsets [${begin}, ${end}] has begin after end`);
  const nbytes = count * ITEMSIZE[dtype];
  if (end - begin !== nbytes) {
    throw new InputError(`${where}: data_offsets [${begin}, ${end}] span ${end - begin} bytes but shape [${shape.join(', ')}] of ${dtype} needs ${nbytes}`);
  }
  if (end > bufferLen) {
    throw new InputError(
      `${where}: data_offsets [${begin}, ${end}] reach past the end of the ${bufferLen}-byte data buffer (is the file truncated? it is ${end - bufferLen} bytes short)`,
    );
  }
  return { name, dtype, shape, count, begin, end };
}

function decode(e: Entry, buf: Uint8Array, source: string): TensorData {
  const { dtype, count } = e;
  const size = ITEMSIZE[dtype];
  // A fresh, aligned copy of the tensor's bytes (not Buffer#slice, which would alias the input).
  const raw = new Uint8Array(e.end - e.begin);
  raw.set(buf.subarray(e.begin, e.end));
  const dv = new DataView(raw.buffer);
  switch (dtype) {
    case 'F64':
      return LITTLE_ENDIAN_HOST ? new Float64Array(raw.buffer) : Float64Array.from({ length: count }, (_, k) => dv.getFloat64(8 * k, true));
    case 'F32':
      return LITTLE_ENDIAN_HOST ? new Float32Array(raw.buffer) : Float32Array.from({ length: count }, (_, k) => dv.getFloat32(4 * k, true));
    case 'I32':
      return LITTLE_ENDIAN_HOST ? new Int32Array(raw.buffer) : Int32Array.from({ length: count }, (_, k) => dv.getInt32(4 * k, true));
    case 'U32':
      return LITTLE_ENDIAN_HOST ? new Uint32Array(raw.buffer) : Uint32Array.from({ length: count }, (_, k) => dv.getUint32(4 * k, true));
    case 'I16':
      return LITTLE_ENDIAN_HOST ? new Int16Array(raw.buffer) : Int16Array.from({ length: count }, (_, k) => dv.getInt16(2 * k, true));
    case 'U16':
      return LITTLE_ENDIAN_HOST ? new Uint16Array(raw.buffer) : Uint16Array.from({ length: count }, (_, k) => dv.getUint16(2 * k, true));
    case 'I8':
      return new Int8Array(raw.buffer);
    case 'U8':
      return raw;
    case 'BOOL': {
      for (let k = 0; k < count; k++) {
        if (raw[k] > 1) throw new InputError(`${source}: tensor '${truncate(e.name)}': BOOL value ${raw[k]} at flat index ${k} (only 0 and 1 are valid)`);
      }
      return raw;
    }
    case 'F16':
    case 'BF16': {
      const out = new Float32Array(count);
      const conv = dtype === 'F16' ? f16ToNumber : bf16ToNumber;
      for (let k = 0; k < count; k++) out[k] = conv(dv.getUint16(2 * k, true));
      return out;
    }
    case 'I64':
    case 'U64': {
      const out = new Float64Array(count);
      for (let k = 0; k < count; k++) {
        const v = dtype === 'I64' ? dv.getBigInt64(size * k, true) : dv.getBigUint64(size * k, true);
        if (v > 9007199254740992n || v < -9007199254740992n) {
          throw new InputError(
            `${source}: tensor '${truncate(e.name)}': ${dtype} value ${v} at flat index ${k} is beyond 2^53 and has no exact float64; convert the tensor to float64 if rounding is acceptable`,
          );
        }
        out[k] = Number(v);
      }
      return out;
    }
  }
}

/** Parse the bytes of a safetensors file. `source` names it in error messages. */
export function parseSafetensors(bytes: Uint8Array, source = 'input'): Safetensors {
  // 1. Header length.
  if (bytes.length < 8) {
    throw new InputError(`${source}: not a safetensors file: ${bytes.length} bytes, too short for the 8-byte header length`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = dv.getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER_BYTES)) {
    const hint = n64 > BigInt(bytes.length - 8) ? `, more than the ${bytes.length - 8} bytes that follow; is this a safetensors file?` : '';
    throw new InputError(`${source}: safetensors header length ${n64} exceeds the ${MAX_HEADER_BYTES}-byte limit${hint}`);
  }
  const n = Number(n64);
  if (n > bytes.length - 8) {
    throw new InputError(`${source}: truncated safetensors file: the header length is ${n} bytes but only ${bytes.length - 8} bytes follow the length field`);
  }
  // 2. Header text.
  const raw = bytes.subarray(8, 8 + n);
  if (raw[0] !== 0x7b) {
    throw new InputError(`${source}: malformed safetensors header: it must start with '{' (found ${n === 0 ? 'an empty header' : `byte 0x${raw[0].toString(16).padStart(2, '0')}`})`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(raw);
  } catch {
    throw new InputError(`${source}: malformed safetensors header: not valid UTF-8`);
  }
  const root = new JsonParser(text, source).document();
  if (root.t !== 'obj') throw new InputError(`${source}: malformed safetensors header: the JSON must be an object`);
  // 3. Entries.
  const bufferStart = 8 + n;
  const bufferLen = bytes.length - bufferStart;
  const metadata = Object.create(null) as Record<string, string>;
  const entries: Entry[] = [];
  for (const [name, v] of root.m) {
    if (name === '__metadata__') {
      if (v.t !== 'obj') throw new InputError(`${source}: __metadata__ must be an object of string values, got ${describe(v)}`);
      for (const [k, mv] of v.m) {
        if (mv.t !== 'str') throw new InputError(`${source}: __metadata__ value for ${JSON.stringify(truncate(k))} must be a string, got ${describe(mv)}`);
        metadata[k] = mv.v;
      }
      continue;
    }
    entries.push(parseEntry(name, v, source, bufferLen));
  }
  // 4. The ranges must tile the buffer exactly.
  const sorted = entries.slice().sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  let prev: Entry | undefined;
  for (const e of sorted) {
    if (e.begin < at) {
      throw new InputError(`${source}: tensors '${truncate(prev!.name)}' [${prev!.begin}, ${prev!.end}] and '${truncate(e.name)}' [${e.begin}, ${e.end}] overlap in the data buffer`);
    }
    if (e.begin > at) {
      throw new InputError(`${source}: hole in the data buffer: bytes [${at}, ${e.begin}) belong to no tensor (the format requires the tensors to cover the buffer contiguously)`);
    }
    at = e.end;
    prev = e;
  }
  if (at !== bufferLen) {
    throw new InputError(`${source}: ${bufferLen - at} unexpected bytes after the last tensor (the data buffer is ${bufferLen} bytes, the tensors cover ${at})`);
  }
  // 5. Values.
  const buf = bytes.subarray(bufferStart);
  const tensors = Object.create(null) as Record<string, Tensor>;
  for (const e of entries) tensors[e.name] = { dtype: e.dtype, shape: e.shape, data: decode(e, buf, source) };
  return { tensors, metadata };
}

/** Read and parse a safetensors file. */
export function readSafetensors(path: string): Safetensors {
  return parseSafetensors(readInputBytes(path), path);
}

// ---------------------------------------------------------------------------------------------
// Writing

function encodeValues(name: string, t: TensorInput, dv: DataView, at: number): void {
  const { dtype, data } = t;
  const size = ITEMSIZE[dtype];
  const bad = (k: number): never => {
    throw new RangeError(`encodeSafetensors: tensor '${truncate(name)}': value ${data[k]} at flat index ${k} is not representable as ${dtype}`);
  };
  const intRange = (k: number, lo: number, hi: number): number => {
    const v = data[k];
    if (!Number.isInteger(v) || v < lo || v > hi) bad(k);
    return v;
  };
  for (let k = 0, o = at; k < data.length; k++, o += size) {
    switch (dtype) {
      case 'F64':
        dv.setFloat64(o, data[k], true);
        break;
      case 'F32':
        dv.setFloat32(o, data[k], true);
        break;
      case 'F16':
        dv.setUint16(o, toSmallFloatBits(data[k], 5, 10), true);
        break;
      case 'BF16':
        dv.setUint16(o, toSmallFloatBits(data[k], 8, 7), true);
        break;
      case 'I64':
        dv.setBigInt64(o, BigInt(intRange(k, -TWO53, TWO53)), true);
        break;
      case 'U64':
        dv.setBigUint64(o, BigInt(intRange(k, 0, TWO53)), true);
        break;
      case 'I32':
        dv.setInt32(o, intRange(k, -0x80000000, 0x7fffffff), true);
        break;
      case 'U32':
        dv.setUint32(o, intRange(k, 0, 0xffffffff), true);
        break;
      case 'I16':
        dv.setInt16(o, intRange(k, -0x8000, 0x7fff), true);
        break;
      case 'U16':
        dv.setUint16(o, intRange(k, 0, 0xffff), true);
        break;
      case 'I8':
        dv.setInt8(o, intRange(k, -0x80, 0x7f));
        break;
      case 'U8':
        dv.setUint8(o, intRange(k, 0, 0xff));
        break;
      case 'BOOL':
        dv.setUint8(o, intRange(k, 0, 1));
        break;
    }
  }
}

const LONE_SURROGATE = /\p{Cs}/u;

/**
 * Encode tensors (and optional string metadata) as safetensors bytes: tensors in sorted name
 * order with contiguous offsets, the header padded with spaces to a multiple of 8 bytes.
 * Programming errors (bad shape, wrong value count, values the dtype cannot hold, reserved or
 * ill-formed names) throw RangeError.
 */
export function encodeSafetensors(tensors: Record<string, TensorInput>, metadata?: Record<string, string>): Uint8Array {
  const names = Object.keys(tensors).sort();
  const parts: string[] = [];
  if (metadata && Object.keys(metadata).length > 0) {
    const kv: string[] = [];
    for (const k of Object.keys(metadata).sort()) {
      const v = metadata[k];
      if (typeof v !== 'string') throw new RangeError(`encodeSafetensors: metadata value for '${truncate(k)}' must be a string, got ${typeof v}`);
      if (LONE_SURROGATE.test(k) || LONE_SURROGATE.test(v)) throw new RangeError(`encodeSafetensors: metadata '${truncate(k)}' holds a lone surrogate (not valid UTF-8)`);
      kv.push(`${JSON.stringify(k)}:${JSON.stringify(v)}`);
    }
    parts.push(`"__metadata__":{${kv.join(',')}}`);
  }
  let offset = 0;
  const placed: { name: string; t: TensorInput; begin: number }[] = [];
  for (const name of names) {
    const t = tensors[name];
    if (name === '__metadata__') throw new RangeError("encodeSafetensors: '__metadata__' is reserved and cannot name a tensor");
    if (LONE_SURROGATE.test(name)) throw new RangeError(`encodeSafetensors: tensor name '${truncate(name)}' holds a lone surrogate (not valid UTF-8)`);
    if (!Object.prototype.hasOwnProperty.call(ITEMSIZE, t.dtype)) throw new RangeError(`encodeSafetensors: tensor '${truncate(name)}': unsupported dtype '${t.dtype}'`);
    let count = 1;
    for (const d of t.shape) {
      if (!Number.isSafeInteger(d) || d < 0) throw new RangeError(`encodeSafetensors: tensor '${truncate(name)}': shape entries must be non-negative integers, got [${t.shape.join(', ')}]`);
      count *= d;
    }
    if (count !== t.data.length) throw new RangeError(`encodeSafetensors: tensor '${truncate(name)}': shape [${t.shape.join(', ')}] needs ${count} values, got ${t.data.length}`);
    const nbytes = count * ITEMSIZE[t.dtype];
    parts.push(`${JSON.stringify(name)}:{"dtype":"${t.dtype}","shape":[${t.shape.join(',')}],"data_offsets":[${offset},${offset + nbytes}]}`);
    placed.push({ name, t, begin: offset });
    offset += nbytes;
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const n = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + n + offset);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, BigInt(n), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + n);
  for (const p of placed) encodeValues(p.name, p.t, dv, 8 + n + p.begin);
  return out;
}

/** Write tensors (and optional metadata) to a safetensors file, atomically. */
export function writeSafetensors(path: string, tensors: Record<string, TensorInput>, metadata?: Record<string, string>): void {
  writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}
