import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { foldIn, keyFromSeed, randomBits } from '../../src/core/key.js';
import { InputError, isInputError } from '../../src/io/errors.js';
import {
  encodeSafetensors,
  parseSafetensors,
  readSafetensors,
  writeSafetensors,
  type SafetensorsDtype,
  type TensorInput,
} from '../../src/io/safetensors.js';

const dir = mkdtempSync(join(tmpdir(), 'tweedie-safetensors-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const enc = new TextEncoder();

/** A safetensors file from a raw header string (unpadded unless padded by the caller) and buffer. */
function raw(header: string, buffer: Uint8Array | number[] = [], headerLen?: bigint): Uint8Array {
  const h = enc.encode(header);
  const out = new Uint8Array(8 + h.length + buffer.length);
  new DataView(out.buffer).setBigUint64(0, headerLen ?? BigInt(h.length), true);
  out.set(h, 8);
  out.set(buffer, 8 + h.length);
  return out;
}

function entry(dtype: string, shape: number[], begin: number, end: number): string {
  return `{"dtype":"${dtype}","shape":[${shape.join(',')}],"data_offsets":[${begin},${end}]}`;
}

function expectInputError(f: () => unknown, re: RegExp): InputError {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err, `expected an InputError matching ${re}`).toBeInstanceOf(InputError);
  expect((err as Error).message).toMatch(re);
  return err as InputError;
}

function bad(header: string, buffer: Uint8Array | number[], re: RegExp): void {
  const e = expectInputError(() => parseSafetensors(raw(header, buffer), 'bad.safetensors'), re);
  expect(e.message.startsWith('bad.safetensors: ')).toBe(true);
}

const f32 = (v: number[]): Uint8Array => new Uint8Array(new Float32Array(v).buffer);

// ---------------------------------------------------------------------------------------------

describe('round trip', () => {
  const cases: Record<SafetensorsDtype, number[]> = {
    F64: [0, -0, 1.5, -2.25, 1e-310, Number.MAX_VALUE, Infinity, -Infinity, NaN, Math.PI],
    F32: [0, -0, 1.5, Math.fround(Math.PI), Math.fround(1e-40), 3.4028234663852886e38, -Infinity, NaN],
    F16: [0, -0, 1, -2, 0.5, 65504, 2 ** -24, 2 ** -14, 1 + 2 ** -10, Infinity, NaN],
    BF16: [0, -0, 1, -2, 3.140625, 2 ** -133, 2 ** -126, 3.3895313892515355e38, -Infinity, NaN],
    I64: [0, 1, -1, 2 ** 53, -(2 ** 53), 123456789012345],
    U64: [0, 1, 2 ** 53, 4294967296],
    I32: [0, 1, -1, 2147483647, -2147483648],
    U32: [0, 1, 4294967295],
    I16: [0, -32768, 32767],
    U16: [0, 65535, 12345],
    I8: [0, -128, 127],
    U8: [0, 255, 17],
    BOOL: [0, 1, 1, 0],
  };
  const expectedType: Record<SafetensorsDtype, string> = {
    F64: 'Float64Array',
    F32: 'Float32Array',
    F16: 'Float32Array',
    BF16: 'Float32Array',
    I64: 'Float64Array',
    U64: 'Float64Array',
    I32: 'Int32Array',
    U32: 'Uint32Array',
    I16: 'Int16Array',
    U16: 'Uint16Array',
    I8: 'Int8Array',
    U8: 'Uint8Array',
    BOOL: 'Uint8Array',
  };

  for (const [dtype, values] of Object.entries(cases) as [SafetensorsDtype, number[]][]) {
    it(`${dtype}: values, 0-d scalar and empty tensors`, () => {
      const tensors: Record<string, TensorInput> = {
        vec: { dtype, shape: [values.length], data: values },
        mat: { dtype, shape: [1, values.length, 1], data: values },
        scalar: { dtype, shape: [], data: [values[1]] },
        empty: { dtype, shape: [0], data: [] },
        empty2: { dtype, shape: [3, 0, 2], data: [] },
      };
      const back = parseSafetensors(encodeSafetensors(tensors));
      expect(Object.keys(back.tensors).sort()).toEqual(['empty', 'empty2', 'mat', 'scalar', 'vec']);
      for (const [name, t] of Object.entries(tensors)) {
        const b = back.tensors[name];
        expect(b.dtype).toBe(dtype);
        expect(b.shape).toEqual(t.shape);
        expect(b.data.constructor.name).toBe(expectedType[dtype]);
        expect(Array.from(b.data)).toEqual(Array.from(t.data)); // toEqual: NaN equals NaN, -0 checked below
      }
      const neg0 = values.findIndex((v) => Object.is(v, -0));
      if (neg0 >= 0) expect(Object.is(back.tensors.vec.data[neg0], -0)).toBe(true);
      expect(back.metadata).toEqual({});
    });
  }

  it('metadata, many tensors and awkward names round trip; names are sorted with contiguous offsets', () => {
    const tensors: Record<string, TensorInput> = {
      'z.weight': { dtype: 'F32', shape: [2, 3], data: [1, 2, 3, 4, 5, 6] },
      'a.bias': { dtype: 'F64', shape: [3], data: [0.1, 0.2, 0.3] },
      __proto__x: { dtype: 'I32', shape: [1], data: [5] },
      'ünïcödé "quoted" \\ \n 😀': { dtype: 'U8', shape: [2], data: [1, 2] },
      '': { dtype: 'I64', shape: [], data: [-3] },
    };
    Object.defineProperty(tensors, '__proto__', { value: { dtype: 'I8', shape: [1], data: [-1] }, enumerable: true });
    const metadata = { format: 'pt', note: 'a "quoted" ☃ value\n', '': '' };
    const bytes = encodeSafetensors(tensors, metadata);
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, { data_offsets: [number, number] }>;
    const names = Object.keys(header).filter((k) => k !== '__metadata__');
    expect(names).toEqual(Object.keys(tensors).sort());
    let at = 0;
    for (const name of names) {
      expect(header[name].data_offsets[0]).toBe(at);
      at = header[name].data_offsets[1];
    }
    expect(at).toBe(bytes.length - 8 - n);

    const back = parseSafetensors(bytes);
    expect({ ...back.metadata }).toEqual(metadata);
    expect(Object.keys(back.tensors).sort()).toEqual(Object.keys(tensors).sort());
    expect(Array.from(back.tensors.__proto__.data)).toEqual([-1]);
    expect(Object.getPrototypeOf(back.tensors)).toBe(null);
    expect(Array.from(back.tensors['z.weight'].data)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Array.from(back.tensors['ünïcödé "quoted" \\ \n 😀'].data)).toEqual([1, 2]);
    expect(back.tensors[''].shape).toEqual([]);
  });

  it('no tensors: an empty header object, padded', () => {
    const bytes = encodeSafetensors({});
    expect(Array.from(bytes)).toEqual([8, 0, 0, 0, 0, 0, 0, 0, ...enc.encode('{}      ')]);
    expect(Object.keys(parseSafetensors(bytes).tensors)).toEqual([]);
  });

  it('F16 and BF16 encoding rounds to nearest, ties to even', () => {
    const bits = (dtype: SafetensorsDtype, v: number[]): number[] => {
      const b = encodeSafetensors({ x: { dtype, shape: [v.length], data: v } });
      const n = Number(new DataView(b.buffer).getBigUint64(0, true));
      const dv = new DataView(b.buffer, 8 + n);
      return v.map((_, k) => dv.getUint16(2 * k, true));
    };
    // 1/3, max, overflow at the midpoint 65520, just below it, smallest subnormal, 2^-25 (tie -> 0),
    // 3 * 2^-25 (tie -> even 2 * 2^-24), -1, largest subnormal rounding up into the normals
    expect(bits('F16', [1 / 3, 65504, 65520, 65519.99, 2 ** -24, 2 ** -25, 3 * 2 ** -25, -1, 2 ** -14 - 2 ** -26, 1e300, NaN])).toEqual([
      0x3555, 0x7bff, 0x7c00, 0x7bff, 0x0001, 0x0000, 0x0002, 0xbc00, 0x0400, 0x7c00, 0x7e00,
    ]);
    // 1/3 -> 0x3eab; 1 + 2^-8 is a tie -> 1 (even); 1 + 3 * 2^-8 is a tie -> 1 + 2^-6 (even)
    expect(bits('BF16', [1 / 3, 1 + 2 ** -8, 1 + 3 * 2 ** -8, -2, 2 ** -133, 3.4e38, NaN])).toEqual([
      0x3eab, 0x3f80, 0x3f82, 0xc000, 0x0001, 0x7f80, 0x7fc0,
    ]);
  });

  it('decoded data are fresh aligned arrays, not views of the input', () => {
    const bytes = encodeSafetensors({
      a: { dtype: 'U8', shape: [3], data: [1, 2, 3] },
      b: { dtype: 'F64', shape: [2], data: [1.5, 2.5] },
      c: { dtype: 'F32', shape: [1], data: [7] },
    });
    // Put the file at an odd offset inside a larger buffer: the F64 data is then unaligned.
    const host = new Uint8Array(bytes.length + 3);
    host.set(bytes, 3);
    const input = Buffer.from(host.buffer, 3, bytes.length);
    const back = parseSafetensors(input);
    for (const t of Object.values(back.tensors)) {
      expect(t.data.buffer).not.toBe(host.buffer);
      expect(t.data.byteOffset).toBe(0);
      expect(Buffer.isBuffer(t.data)).toBe(false);
    }
    input.fill(0xff);
    expect(Array.from(back.tensors.a.data)).toEqual([1, 2, 3]);
    expect(Array.from(back.tensors.b.data)).toEqual([1.5, 2.5]);
  });

  it('writeSafetensors writes atomically and readSafetensors reads it back', () => {
    const path = join(dir, 'model.safetensors');
    writeSafetensors(path, { w: { dtype: 'F32', shape: [2, 2], data: [1, 2, 3, 4] } }, { step: '10' });
    const back = readSafetensors(path);
    expect(Array.from(back.tensors.w.data)).toEqual([1, 2, 3, 4]);
    expect(back.metadata.step).toBe('10');
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    writeSafetensors(path, { w: { dtype: 'F64', shape: [1], data: [9] } });
    expect(readSafetensors(path).tensors.w.dtype).toBe('F64');
  });

  it('encoding rejects programming errors with RangeError', () => {
    expect(() => encodeSafetensors({ x: { dtype: 'F32', shape: [3], data: [1, 2] } })).toThrow(RangeError);
    expect(() => encodeSafetensors({ x: { dtype: 'F32', shape: [-1], data: [] } })).toThrow(RangeError);
    expect(() => encodeSafetensors({ x: { dtype: 'I32', shape: [1], data: [0.5] } })).toThrow(/not representable as I32/);
    expect(() => encodeSafetensors({ x: { dtype: 'U8', shape: [1], data: [256] } })).toThrow(RangeError);
    expect(() => encodeSafetensors({ x: { dtype: 'BOOL', shape: [1], data: [2] } })).toThrow(RangeError);
    expect(() => encodeSafetensors({ x: { dtype: 'I64', shape: [1], data: [2 ** 53 + 2] } })).toThrow(RangeError);
    expect(() => encodeSafetensors({ x: { dtype: 'X' as SafetensorsDtype, shape: [0], data: [] } })).toThrow(/unsupported dtype/);
    expect(() => encodeSafetensors({ __metadata__: { dtype: 'F32', shape: [0], data: [] } })).toThrow(/reserved/);
    expect(() => encodeSafetensors({ ['\ud800']: { dtype: 'F32', shape: [0], data: [] } })).toThrow(/lone surrogate/);
    expect(() => encodeSafetensors({}, { k: 1 as unknown as string })).toThrow(/must be a string/);
  });
});

describe('layout per the spec', () => {
  // Hand-built: 8-byte LE header length, the JSON header padded with spaces to a multiple of 8,
  // then the buffer: a = F32 [1, -2] at [0, 8), b = I32 scalar 7 at [8, 12).
  const header = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"I32","shape":[],"data_offsets":[8,12]}}';
  const padded = header + ' '.repeat((8 - (header.length % 8)) % 8);
  const fixture = new Uint8Array([
    ...[padded.length, 0, 0, 0, 0, 0, 0, 0],
    ...enc.encode(padded),
    ...[0x00, 0x00, 0x80, 0x3f], // 1.0f
    ...[0x00, 0x00, 0x00, 0xc0], // -2.0f
    ...[0x07, 0x00, 0x00, 0x00], // 7
  ]);

  it('encodeSafetensors produces exactly the hand-built bytes', () => {
    expect(header.length).toBe(107);
    expect(padded.length).toBe(112);
    const bytes = encodeSafetensors({ b: { dtype: 'I32', shape: [], data: [7] }, a: { dtype: 'F32', shape: [2], data: [1, -2] } });
    expect(Array.from(bytes)).toEqual(Array.from(fixture));
  });

  it('parseSafetensors reads the hand-built bytes', () => {
    const { tensors, metadata } = parseSafetensors(fixture);
    expect(tensors.a).toEqual({ dtype: 'F32', shape: [2], data: new Float32Array([1, -2]) });
    expect(tensors.b).toEqual({ dtype: 'I32', shape: [], data: new Int32Array([7]) });
    expect({ ...metadata }).toEqual({});
  });

  it('reads a header as other writers lay it out: pretty-printed, metadata, unpadded, any entry order', () => {
    const h = `{\n  "__metadata__": {"format": "pt"},\n  "w": {"shape": [2], "data_offsets": [4, 12], "dtype": "F32"},\n\t"s": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}\n}`;
    const buf = [...[0x80, 0x3f, 0x00, 0xc0], ...f32([3, 4])]; // bf16 1.0, -2.0
    const { tensors, metadata } = parseSafetensors(raw(h, buf));
    expect(metadata.format).toBe('pt');
    expect(Array.from(tensors.s.data)).toEqual([1, -2]);
    expect(Array.from(tensors.w.data)).toEqual([3, 4]);
  });
});

describe('corrupt input raises InputError naming the file and the problem', () => {
  const A = entry('F32', [2], 0, 8);
  const buf8 = f32([1, 2]);

  it('short file, header length beyond the file, absurd header length', () => {
    expectInputError(() => parseSafetensors(new Uint8Array(5), 'x.st'), /^x\.st: .*5 bytes, too short/);
    const ok = raw(`{"a":${A}}`, buf8);
    const long = ok.slice();
    new DataView(long.buffer).setBigUint64(0, BigInt(ok.length), true);
    expectInputError(() => parseSafetensors(long, 'x.st'), /truncated safetensors file: the header length is \d+ bytes but only/);
    const huge = ok.slice();
    new DataView(huge.buffer).setBigUint64(0, 2n ** 40n, true);
    expectInputError(() => parseSafetensors(huge, 'x.st'), /header length 1099511627776 exceeds the 100000000-byte limit.*is this a safetensors file/);
    new DataView(huge.buffer).setBigUint64(0, 2n ** 64n - 1n, true);
    expectInputError(() => parseSafetensors(huge, 'x.st'), /exceeds/);
    // An npy file is not a safetensors file.
    expectInputError(() => parseSafetensors(new Uint8Array([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 0x76, 0]), 'x.st'), /x\.st: /);
  });

  it('header not UTF-8, not JSON, not an object', () => {
    const h = enc.encode(`{"a":${A}}`);
    const notUtf8 = raw(`{"a":${A}}`, buf8);
    notUtf8[8 + 2] = 0xff; // inside the name
    expectInputError(() => parseSafetensors(notUtf8, 'x.st'), /not valid UTF-8/);
    expect(h.length).toBeGreaterThan(2);
    bad(`{"a":${A}`, buf8, /malformed safetensors header: unexpected end|expected ','/);
    bad(`{"a":${A},}`, buf8, /expected a quoted key/);
    bad(`{'a':${A}}`, buf8, /expected a quoted key/);
    bad(`[${A}]`, buf8, /must start with '\{'/);
    bad(` {"a":${A}}`, buf8, /must start with '\{'/);
    bad('', [], /empty header/);
    bad(`\ufeff{"a":${A}}`, buf8, /must start with '\{'/);
    bad(`{"a":${A}} x`, buf8, /unexpected text after the JSON object/);
    bad(`{"a":${A}}\0`, buf8, /unexpected text after the JSON object/);
    bad(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],}}`, buf8, /expected a quoted key/);
    bad(`{"a\tb":${A}}`, buf8, /unescaped control character/);
    bad(`{"a\\x":${A}}`, buf8, /invalid escape/);
    bad(`{"a\\u12":${A}}`, buf8, /invalid \\u escape/);
    bad(`{"\\ud800":${A}}`, buf8, /lone surrogate/);
    bad(`{"\\udc00x":${A}}`, buf8, /lone surrogate/);
    bad(`{"a":${A}, "b": 01}`, buf8, /expected ',' or '\}'/);
    bad(`{"a":${A}, "b": tru}`, buf8, /unexpected character/);
    bad(`{"a":${'['.repeat(100_000)}}`, buf8, /nested deeper than 64/);
    // Escapes are decoded: "\u0061" is the name "a".
    expect(Object.keys(parseSafetensors(raw(`{"\\u0061":${A}}`, buf8)).tensors)).toEqual(['a']);
  });

  it('duplicate keys (top level, in an entry, in metadata)', () => {
    bad(`{"a":${A},"a":${A}}`, buf8, /duplicate key "a"/);
    bad(`{"a":${A},"\\u0061":${A}}`, buf8, /duplicate key "a"/);
    bad(`{"a":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, buf8, /duplicate key "dtype"/);
    bad(`{"__metadata__":{"k":"1","k":"2"},"a":${A}}`, buf8, /duplicate key "k"/);
  });

  it('entry problems: not an object, unknown or missing keys', () => {
    bad(`{"a":[1,2]}`, buf8, /tensor 'a': entry must be an object/);
    bad(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"offsets":[0,8]}}`, buf8, /tensor 'a': unexpected key "offsets"/);
    bad(`{"a":{"dtype":"F32","shape":[2]}}`, buf8, /tensor 'a': entry lacks data_offsets/);
    bad(`{"a":{"shape":[2],"data_offsets":[0,8]}}`, buf8, /entry lacks dtype/);
  });

  it('dtypes: unsupported, unknown, not a string', () => {
    bad(`{"a":${entry('F8_E4M3', [8], 0, 8)}}`, buf8, /dtype F8_E4M3, which is not supported \(supported: F64, F32, F16, BF16, I64/);
    bad(`{"a":${entry('float32', [2], 0, 8)}}`, buf8, /unknown dtype "float32"/);
    bad(`{"a":${entry('f32', [2], 0, 8)}}`, buf8, /unknown dtype "f32"/);
    bad(`{"a":{"dtype":4,"shape":[2],"data_offsets":[0,8]}}`, buf8, /dtype must be a string/);
    bad(`{"a":${entry('__proto__', [2], 0, 8)}}`, buf8, /unknown dtype/);
  });

  it('shapes: negative, fractional, exponent, string, too large, not an array, overflowing product', () => {
    for (const s of ['[-2]', '[2.0]', '[1.5]', '[2e0]', '["2"]', '[null]', '[9007199254740992]', '[[2]]']) {
      bad(`{"a":{"dtype":"F32","shape":${s},"data_offsets":[0,8]}}`, buf8, /shape entries must be non-negative integers below 2\^53/);
    }
    bad(`{"a":{"dtype":"F32","shape":2,"data_offsets":[0,8]}}`, buf8, /shape must be an array/);
    bad(`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`, buf8, /too many elements/);
    // A zero dimension makes even huge shapes empty.
    const z = parseSafetensors(raw(`{"e":{"dtype":"F32","shape":[9007199254740991,0,9007199254740991],"data_offsets":[0,0]},"a":${A}}`, buf8));
    expect(z.tensors.e.data.length).toBe(0);
  });

  it('data_offsets: not two non-negative integers, begin after end, wrong byte count, outside the buffer', () => {
    bad(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}}`, buf8, /data_offsets must be an array \[begin, end\] of two integers, got 1 values/);
    bad(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8,8]}}`, buf8, /got 3 values/);
    bad(`{"a":{"dtype":"F32","shape":[2],"data_offsets":"0,8"}}`, buf8, /data_offsets must be an array/);
    bad(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8.0]}}`, buf8, /data_offsets must be non-negative integers/);
    bad(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[-0,8]}}`, buf8, /data_offsets must be non-negative integers/);
    bad(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,18446744073709551616]}}`, buf8, /data_offsets must be non-negative integers/);
    bad(`{"a":${entry('F32', [2], 8, 0)}}`, buf8, /\[8, 0\] has begin after end/);
    bad(`{"a":${entry('F32', [3], 0, 8)}}`, buf8, /span 8 bytes but shape \[3\] of F32 needs 12/);
    bad(`{"a":${entry('F64', [2], 0, 8)}}`, buf8, /needs 16/);
    bad(`{"a":${entry('F32', [2], 4, 12)}}`, buf8, /reach past the end of the 8-byte data buffer .*4 bytes short/);
    bad(`{"a":${entry('F32', [2], 0, 8)}}`, buf8.subarray(0, 6), /reach past the end/);
  });

  it('the buffer must be covered exactly: overlaps, holes, trailing bytes', () => {
    const b16 = f32([1, 2, 3, 4]);
    bad(`{"a":${entry('F32', [2], 0, 8)},"b":${entry('F32', [2], 4, 12)}}`, b16.subarray(0, 12), /tensors 'a' \[0, 8\] and 'b' \[4, 12\] overlap/);
    bad(`{"a":${entry('F32', [2], 0, 8)},"b":${entry('F32', [2], 0, 8)}}`, buf8, /overlap/);
    bad(`{"a":${entry('F32', [2], 0, 8)},"b":${entry('F32', [1], 12, 16)}}`, b16, /hole in the data buffer: bytes \[8, 12\) belong to no tensor/);
    bad(`{"a":${entry('F32', [2], 8, 16)}}`, b16, /hole in the data buffer: bytes \[0, 8\)/);
    bad(`{"a":${entry('F32', [2], 0, 8)}}`, b16, /8 unexpected bytes after the last tensor/);
    bad(`{}`, [0], /1 unexpected bytes after the last tensor/);
    // Empty tensors may sit anywhere on the tiling, several at one offset.
    const ok = parseSafetensors(raw(`{"e1":${entry('F32', [0], 8, 8)},"a":${entry('F32', [2], 0, 8)},"e2":${entry('I64', [0, 5], 8, 8)},"e3":${entry('U8', [0], 0, 0)}}`, buf8));
    expect(Object.keys(ok.tensors).sort()).toEqual(['a', 'e1', 'e2', 'e3']);
    // An empty tensor pointing past the end is still outside the buffer.
    bad(`{"a":${A},"e":${entry('F32', [0], 9, 9)}}`, buf8, /tensor 'e'.*reach past the end/);
  });

  it('__metadata__ must map strings to strings', () => {
    bad(`{"__metadata__":{"step":10},"a":${A}}`, buf8, /__metadata__ value for "step" must be a string, got 10/);
    bad(`{"__metadata__":{"x":null},"a":${A}}`, buf8, /must be a string, got null/);
    bad(`{"__metadata__":["a"],"a":${A}}`, buf8, /__metadata__ must be an object/);
    bad(`{"__metadata__":"pt","a":${A}}`, buf8, /__metadata__ must be an object/);
  });

  it('values: I64/U64 beyond 2^53, BOOL other than 0/1', () => {
    const i64 = new Uint8Array(8);
    new DataView(i64.buffer).setBigInt64(0, 2n ** 53n + 1n, true);
    bad(`{"a":${entry('I64', [1], 0, 8)}}`, i64, /I64 value 9007199254740993 at flat index 0 is beyond 2\^53/);
    new DataView(i64.buffer).setBigInt64(0, -(2n ** 63n), true);
    bad(`{"a":${entry('I64', [1], 0, 8)}}`, i64, /I64 value -9223372036854775808/);
    new DataView(i64.buffer).setBigUint64(0, 2n ** 64n - 1n, true);
    bad(`{"a":${entry('U64', [1], 0, 8)}}`, i64, /U64 value 18446744073709551615/);
    bad(`{"a":${entry('BOOL', [3], 0, 3)}}`, [1, 0, 2], /BOOL value 2 at flat index 2/);
  });

  it('readSafetensors names the path; missing files and directories are InputErrors', () => {
    const path = join(dir, 'corrupt.safetensors');
    writeFileSync(path, raw(`{"a":${entry('F32', [3], 0, 8)}}`, buf8));
    const e = expectInputError(() => readSafetensors(path), /needs 12/);
    expect(e.message.startsWith(`${path}: tensor 'a'`)).toBe(true);
    expectInputError(() => readSafetensors(join(dir, 'missing.safetensors')), /cannot read .*missing\.safetensors: no such file/);
    expectInputError(() => readSafetensors(dir), /it is a directory/);
    expect(readFileSync(path).length).toBe(8 + `{"a":${entry('F32', [3], 0, 8)}}`.length + 8);
  });
});

describe('fuzz: corrupted files either parse or raise InputError, quickly', () => {
  const base = encodeSafetensors(
    {
      'layer.0.weight': { dtype: 'F32', shape: [3, 4], data: Array.from({ length: 12 }, (_, k) => k / 7) },
      'layer.0.bias': { dtype: 'F64', shape: [4], data: [1, -1, 0.5, -0.5] },
      half: { dtype: 'F16', shape: [2, 2], data: [1, 2, 3, 4] },
      brain: { dtype: 'BF16', shape: [3], data: [1, -2, 0.5] },
      steps: { dtype: 'I64', shape: [2], data: [7, -9] },
      idx: { dtype: 'I32', shape: [], data: [3] },
      mask: { dtype: 'BOOL', shape: [3], data: [1, 0, 1] },
      empty: { dtype: 'U16', shape: [0, 2], data: [] },
    },
    { format: 'pt', epoch: '12' },
  );
  const headerLen = Number(new DataView(base.buffer).getBigUint64(0, true));
  const JSON_CHARS = enc.encode('{}[],:"\\ 0123456789-.eE+tfnu_abcxyzF');

  function mutate(seed: number): Uint8Array {
    const r = randomBits(foldIn(keyFromSeed(20240611), seed), 64);
    let p = 0;
    const next = (m: number): number => r[p++ % r.length] % m;
    const kind = seed % 7;
    let b = base.slice();
    const dv = () => new DataView(b.buffer, b.byteOffset, b.byteLength);
    switch (kind) {
      case 0: // truncation
        return b.subarray(0, next(b.length));
      case 1: {
        // byte flips anywhere
        const flips = 1 + next(4);
        for (let k = 0; k < flips; k++) b[next(b.length)] = next(256);
        return b;
      }
      case 2: {
        // header-text mutation with JSON-significant characters
        const edits = 1 + next(3);
        for (let k = 0; k < edits; k++) b[8 + next(headerLen)] = JSON_CHARS[next(JSON_CHARS.length)];
        return b;
      }
      case 3: {
        // header-length rewrite
        const choices = [
          BigInt(next(b.length + 16)),
          BigInt(headerLen + next(17) - 8),
          (BigInt(r[10]) << 32n) | BigInt(r[11]),
          2n ** 64n - 1n,
          BigInt(b.length - 8),
          0n,
          100_000_001n,
        ];
        dv().setBigUint64(0, choices[next(choices.length)], true);
        return b;
      }
      case 4: {
        // random garbage, sometimes with a plausible length prefix and '{'
        const len = next(400);
        b = new Uint8Array(len);
        for (let k = 0; k < len; k++) b[k] = r[(k * 7 + 3) % r.length] >>> (8 * (k % 4));
        if (len >= 9 && next(2) === 0) {
          dv().setBigUint64(0, BigInt(next(len - 8)), true);
          b[8] = 0x7b;
        }
        return b;
      }
      case 5: {
        // delete or insert a run of bytes
        const at = next(b.length);
        const n = 1 + next(16);
        if (next(2) === 0) return new Uint8Array([...b.subarray(0, at), ...b.subarray(at + n)]);
        const ins = Array.from({ length: n }, () => next(256));
        return new Uint8Array([...b.subarray(0, at), ...ins, ...b.subarray(at)]);
      }
      default: {
        // digits in the header replaced by other digits (plausible offsets and shapes)
        const text = new TextDecoder().decode(b.subarray(8, 8 + headerLen));
        const digits = [...text.matchAll(/[0-9]/g)].map((m) => m.index);
        const edits = 1 + next(2);
        for (let k = 0; k < edits; k++) b[8 + digits[next(digits.length)]] = 0x30 + next(10);
        return b;
      }
    }
  }

  it('thousands of mutations of a valid file', () => {
    expect(Object.keys(parseSafetensors(base).tensors).length).toBe(8);
    const N = 6000;
    let ok = 0;
    let rejected = 0;
    let slowest = 0;
    const t0 = performance.now();
    for (let i = 0; i < N; i++) {
      const bytes = mutate(i);
      const s = performance.now();
      try {
        const res = parseSafetensors(bytes, 'fuzz.safetensors');
        for (const t of Object.values(res.tensors)) {
          expect(t.data.length).toBe(t.shape.reduce((a, d) => a * d, 1));
        }
        ok++;
      } catch (e) {
        if (!isInputError(e)) throw new Error(`mutation ${i} (kind ${i % 7}) threw ${String(e)} instead of an InputError`, { cause: e });
        expect((e as Error).message.startsWith('fuzz.safetensors: ')).toBe(true);
        rejected++;
      }
      slowest = Math.max(slowest, performance.now() - s);
    }
    const total = performance.now() - t0;
    expect(ok + rejected).toBe(N);
    expect(ok).toBeGreaterThan(50); // flips inside the data leave a valid file
    expect(rejected).toBeGreaterThan(N / 2);
    expect(slowest).toBeLessThan(100);
    expect(total).toBeLessThan(20_000);
  });
});
