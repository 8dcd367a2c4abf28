import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { makeBatch } from '../../src/core/batch.js';
import { foldIn, keyFromSeed, normalBatch, randint } from '../../src/core/key.js';
import { InputError } from '../../src/io/errors.js';
import { assertFiniteInput, encodeNpy, parseNpy, readNpy, readNpyBatch, writeNpy } from '../../src/io/npy.js';

const dir = mkdtempSync(join(tmpdir(), 'tweedie-npy-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const DW4 = fileURLToPath(new URL('../../data/val_split_DW4.npy', import.meta.url));

/** Build a .npy file from a raw header string (padded NumPy-style) and data bytes. */
function rawNpy(header: string, data: Uint8Array = new Uint8Array(0), version = 1): Uint8Array {
  const pre = version === 1 ? 10 : 12;
  const total = Math.ceil((pre + header.length + 1) / 64) * 64;
  const text = header + ' '.repeat(total - pre - header.length - 1) + '\n';
  const out = new Uint8Array(total + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
  const dv = new DataView(out.buffer);
  if (version === 1) dv.setUint16(8, text.length, true);
  else dv.setUint32(8, text.length, true);
  for (let k = 0; k < text.length; k++) out[pre + k] = text.charCodeAt(k);
  out.set(data, total);
  return out;
}

function f8bytes(values: number[]): Uint8Array {
  return new Uint8Array(new Float64Array(values).buffer);
}

function expectInputError(f: () => unknown, re: RegExp): void {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err, 'expected an InputError').toBeInstanceOf(InputError);
  expect((err as Error).message).toMatch(re);
}

describe('npy round trip', () => {
  const b = normalBatch(keyFromSeed(3), 37, 5);

  it('f8 is exact', () => {
    const p = join(dir, 'a.npy');
    writeNpy(p, b);
    const back = readNpyBatch(p);
    expect(back.n).toBe(37);
    expect(back.dim).toBe(5);
    expect(Array.from(back.data)).toEqual(Array.from(b.data));
    expect(readNpy(p).dtype).toBe('<f8');
    // NumPy's layout: data starts at a multiple of 64 and the header ends with a newline.
    const bytes = readFileSync(p);
    const hlen = bytes.readUInt16LE(8);
    expect((10 + hlen) % 64).toBe(0);
    expect(bytes[10 + hlen - 1]).toBe(0x0a);
    expect(bytes.toString('latin1', 10, 10 + hlen)).toMatch(/^\{'descr': '<f8', 'fortran_order': False, 'shape': \(37, 5\), \} *\n$/);
  });

  it('f4 rounds to float32', () => {
    const p = join(dir, 'b.npy');
    writeNpy(p, b, '<f4');
    const back = readNpyBatch(p);
    expect(readNpy(p).dtype).toBe('<f4');
    expect(Array.from(back.data)).toEqual(Array.from(Float32Array.from(b.data)));
  });

  it('int32 and int64 round trip; 1-D, 0-D, 3-D and empty shapes', () => {
    const p = join(dir, 'c.npy');
    writeNpy(p, { shape: [2, 3], data: [1, -2, 3, 2147483647, -2147483648, 0] }, '<i4');
    expect(Array.from(readNpy(p).data)).toEqual([1, -2, 3, 2147483647, -2147483648, 0]);
    writeNpy(p, { shape: [3], data: [2 ** 53, -(2 ** 53), 7] }, '<i8');
    expect(readNpy(p)).toEqual({ shape: [3], dtype: '<i8', data: Float64Array.from([2 ** 53, -(2 ** 53), 7]) });
    writeNpy(p, { shape: [], data: [4.5] });
    expect(readNpy(p).shape).toEqual([]);
    expect(Array.from(readNpy(p).data)).toEqual([4.5]);
    writeNpy(p, { shape: [2, 2, 2], data: [0, 1, 2, 3, 4, 5, 6, 7] });
    expect(readNpy(p).shape).toEqual([2, 2, 2]);
    writeNpy(p, makeBatch(0, 3));
    const e = readNpyBatch(p);
    expect([e.n, e.dim, e.data.length]).toEqual([0, 3, 0]);
  });

  it('writes atomically: no temp files are left, an existing file is replaced', () => {
    const sub = mkdtempSync(join(dir, 'atomic-'));
    const p = join(sub, 'x.npy');
    writeNpy(p, makeBatch(1, 1, [1]));
    writeNpy(p, makeBatch(2, 1, [2, 3]));
    expect(readdirSync(sub)).toEqual(['x.npy']);
    expect(Array.from(readNpyBatch(p).data)).toEqual([2, 3]);
    expect(() => writeNpy(join(sub, 'missing-dir', 'y.npy'), makeBatch(1, 1))).toThrow(/cannot write .*y\.npy/);
    expect(readdirSync(sub)).toEqual(['x.npy']);
  });

  it('writes a version 2.0 header when the header exceeds 65535 bytes, and reads it back', () => {
    const shape = Array.from({ length: 22000 }, () => 1);
    const bytes = encodeNpy({ shape, data: [3] });
    expect(bytes[6]).toBe(2);
    const a = parseNpy(bytes);
    expect(a.shape.length).toBe(22000);
    expect(Array.from(a.data)).toEqual([3]);
  });

  it('reads version 3.0 (UTF-8 header)', () => {
    const a = parseNpy(rawNpy("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", f8bytes([1, 2]), 3));
    expect(Array.from(a.data)).toEqual([1, 2]);
  });
});

describe('npy reading of the shipped DW-4 data', () => {
  it('val_split_DW4.npy is (10000, 8) float32', () => {
    const a = readNpy(DW4);
    expect(a.shape).toEqual([10000, 8]);
    expect(a.dtype).toBe('<f4');
    const b = readNpyBatch(DW4, { dim: 8 });
    expect(b.n).toBe(10000);
    expect(b.dim).toBe(8);
    // Every value is a float32 and finite, and the points are spread (DW-4 pair distances ~ 4).
    let maxAbs = 0;
    let notF32 = 0;
    for (const v of b.data) {
      if (Math.fround(v) !== v) notF32++;
      maxAbs = Math.max(maxAbs, Math.abs(v));
    }
    expect(notF32).toBe(0);
    expect(maxAbs).toBeGreaterThan(1);
    expect(maxAbs).toBeLessThan(20);
    expectInputError(() => readNpyBatch(DW4, { dim: 2 }), /points have dimension 8 .* but 2 is expected/);
  });
});

describe('npy validation', () => {
  const good = encodeNpy({ shape: [3, 2], data: [1, 2, 3, 4, 5, 6] });

  it('reports a missing file', () => {
    expectInputError(() => readNpy(join(dir, 'nope.npy')), /cannot read .*nope\.npy: no such file/);
  });

  it('rejects a bad magic string and names the source', () => {
    const bad = good.slice();
    bad[1] = 0x4f;
    expectInputError(() => parseNpy(bad, 'my.npy'), /^my\.npy: not a \.npy file/);
    expectInputError(() => parseNpy(new TextEncoder().encode('x,y\n1,2\n'), 'data.csv'), /data\.csv: not a \.npy file/);
    expectInputError(() => parseNpy(new Uint8Array(0)), /not a \.npy file/);
  });

  it('rejects unknown versions', () => {
    const bad = good.slice();
    bad[6] = 4;
    expectInputError(() => parseNpy(bad), /unsupported \.npy format version 4\.0/);
    bad[6] = 1;
    bad[7] = 1;
    expectInputError(() => parseNpy(bad), /version 1\.1/);
  });

  it('rejects a truncated header at every cut point', () => {
    const hlen = good[8] | (good[9] << 8);
    for (let cut = 0; cut < 10 + hlen; cut++) {
      expectInputError(() => parseNpy(good.subarray(0, cut), 'cut.npy'), /cut\.npy: (not a \.npy file|truncated \.npy (file|header))/);
    }
  });

  it('rejects truncated data, saying how many bytes were expected and found', () => {
    const start = good.length - 48; // header, then 3 x 2 float64
    for (const cut of [start, start + 1, start + 7, start + 8, start + 40, good.length - 1]) {
      const found = cut - start;
      expectInputError(
        () => parseNpy(good.subarray(0, cut), 'short.npy'),
        new RegExp(`short\\.npy: truncated \\.npy data: shape \\(3, 2\\) of <f8 needs 48 data bytes, found ${found}`),
      );
    }
    expectInputError(() => readNpyBatch(writeAndPath('trunc.npy', readFileSync(DW4).subarray(0, 1000))), /trunc\.npy: truncated \.npy data: shape \(10000, 8\) of <f4 needs 320000 data bytes, found 872/);
  });

  it('rejects trailing bytes', () => {
    const bad = new Uint8Array(good.length + 3);
    bad.set(good);
    expectInputError(() => parseNpy(bad), /3 unexpected bytes after the data/);
  });

  it('rejects unsupported, big-endian, object and structured dtypes with the fix', () => {
    const h = (d: string) => `{'descr': ${d}, 'fortran_order': False, 'shape': (1,), }`;
    expectInputError(() => parseNpy(rawNpy(h("'>f8'"), f8bytes([1]))), /big-endian dtype '>f8'.*astype\('<f8'\)/);
    expectInputError(() => parseNpy(rawNpy(h("'|O'"), f8bytes([1]))), /object arrays/);
    expectInputError(() => parseNpy(rawNpy(h("'<c16'"), f8bytes([1, 2]))), /unsupported dtype '<c16'/);
    expectInputError(() => parseNpy(rawNpy(h("'<f2'"), new Uint8Array(2))), /unsupported dtype '<f2'/);
    expectInputError(() => parseNpy(rawNpy(h("'|b1'"), new Uint8Array(1))), /unsupported dtype '\|b1'/);
    expectInputError(() => parseNpy(rawNpy(h("[('x', '<f8')]"), f8bytes([1]))), /structured/);
  });

  it('rejects int64 values without an exact float64', () => {
    const data = new Uint8Array(new BigInt64Array([2n ** 53n + 1n]).buffer);
    expectInputError(() => parseNpy(rawNpy("{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }", data)), /no exact float64/);
  });

  it('reads fortran_order True arrays in row-major order', () => {
    // The 2 x 3 matrix [[1,2,3],[4,5,6]] in column-major order is 1 4 2 5 3 6.
    const a = parseNpy(rawNpy("{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }", f8bytes([1, 4, 2, 5, 3, 6])));
    expect(Array.from(a.data)).toEqual([1, 2, 3, 4, 5, 6]);
    // 3-D: element (i, j, k) of shape (2, 3, 2) sits at i + 2 j + 6 k in Fortran order.
    const shape = [2, 3, 2];
    const f = new Array<number>(12);
    const c = new Array<number>(12);
    for (let i = 0; i < 2; i++)
      for (let j = 0; j < 3; j++)
        for (let k = 0; k < 2; k++) {
          const v = 100 * i + 10 * j + k;
          f[i + 2 * j + 6 * k] = v;
          c[i * 6 + j * 2 + k] = v;
        }
    const b = parseNpy(rawNpy(`{'descr': '<f8', 'fortran_order': True, 'shape': (${shape.join(', ')}), }`, f8bytes(f)));
    expect(Array.from(b.data)).toEqual(c);
  });

  it('parses the header dict strictly', () => {
    const d8 = f8bytes([1, 2]);
    const ok = [
      "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }",
      '{"descr": "<f8", "fortran_order": False, "shape": (2,)}',
      "{'shape': (2,), 'fortran_order': False, 'descr': '<f8'}",
      "{'descr':'<f8','fortran_order':False,'shape':(2L,)}",
      "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2), }",
    ];
    for (const h of ok) expect(Array.from(parseNpy(rawNpy(h, d8)).data)).toEqual([1, 2]);
    const bad: Array<[string, RegExp]> = [
      ["{'descr': '<f8', 'fortran_order': False}", /missing key 'shape'/],
      ["{'descr': '<f8', 'fortran_order': False, 'shape': (2,), 'extra': 1}", /expected a string, True, False or a tuple/],
      ["{'descr': '<f8', 'fortran_order': False, 'shape': (2,), 'extra': True}", /unexpected key 'extra'/],
      ["{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (2,)}", /duplicate key 'descr'/],
      ["{'descr': '<f8', 'fortran_order': 0, 'shape': (2,)}", /expected a string, True, False or a tuple/],
      ["{'descr': '<f8', 'fortran_order': 'no', 'shape': (2,)}", /'fortran_order' must be True or False/],
      ["{'descr': True, 'fortran_order': False, 'shape': (2,)}", /'descr' must be a string/],
      ["{'descr': '<f8', 'fortran_order': False, 'shape': '2'}", /'shape' must be a tuple/],
      ["{'descr': '<f8', 'fortran_order': False, 'shape': (2)}", /one-element shape must be written \(n,\)/],
      ["{'descr': '<f8', 'fortran_order': False, 'shape': (-2,)}", /negative dimension -2/],
      ["{'descr': '<f8', 'fortran_order': False, 'shape': (2.0,)}", /expected ',' or '\)'/],
      ["{'descr': '<f8', 'fortran_order': False, 'shape': (2,)} junk", /unexpected text after the header dict/],
      ["{'descr': '<f8' 'fortran_order': False, 'shape': (2,)}", /expected ',' or '}'/],
      ["{'descr': '<f8, 'fortran_order': False, 'shape': (2,)}", /malformed \.npy header: expected ',' or '}' at character/],
      ["{'descr': '<f8', 'fortran_order': False, 'shape': (2,)", /expected ',' or '}'|expected a quoted string/],
      ["['descr', '<f8']", /expected '\{'/],
      ['', /expected '\{'/],
      ["{'descr': '<\\x66\\x38', 'fortran_order': False, 'shape': (2,)}", /escape sequences/],
      ["{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999,)}", /too large/],
      ["{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296)}", /too many elements/],
    ];
    for (const [h, re] of bad) expectInputError(() => parseNpy(rawNpy(h, d8), 'h.npy'), re);
  });

  it('readNpyBatch: shape rules, dimension check and non-finite values', () => {
    const p1 = writeAndPath('one.npy', encodeNpy({ shape: [3], data: [1, 2, 3] }));
    expectInputError(() => readNpyBatch(p1), /expected a 2-D array of points \(n, dim\), got shape \(3,\); .*reshape\(-1, 1\)/);
    const b1 = readNpyBatch(p1, { allow1D: true });
    expect([b1.n, b1.dim]).toEqual([3, 1]);
    const p3 = writeAndPath('three.npy', encodeNpy({ shape: [2, 4, 2], data: new Array(16).fill(0) }));
    expectInputError(() => readNpyBatch(p3), /got shape \(2, 4, 2\); flatten each point first, e.g\. arr\.reshape\(2, -1\)/);
    const p0 = writeAndPath('zero-dim.npy', encodeNpy({ shape: [3, 0], data: [] }));
    expectInputError(() => readNpyBatch(p0), /at least one coordinate/);
    const pn = writeAndPath('nan.npy', encodeNpy({ shape: [3, 2], data: [1, 2, 3, NaN, 5, 6] }));
    expectInputError(() => readNpyBatch(pn), /nan\.npy: non-finite value NaN at row 1, column 1/);
    expect(Number.isNaN(readNpyBatch(pn, { allowNonFinite: true }).data[3])).toBe(true);
    expectInputError(() => assertFiniteInput(makeBatch(2, 2, [0, 0, -Infinity, 0]), 'x.npy'), /x\.npy: non-finite value -Infinity at row 1, column 0/);
  });

  it('fuzz: byte flips, truncations and random bytes never throw anything but InputError', () => {
    const sources = [
      good,
      encodeNpy({ shape: [40], data: Array.from({ length: 40 }, (_, i) => i - 20) }, '<i8'),
      encodeNpy({ shape: [20, 4], data: normalBatch(keyFromSeed(1), 20, 4).data }, '<f4'),
      encodeNpy({ shape: [1], data: [1] }, '<i4'),
    ];
    const key = keyFromSeed(2024);
    let parsed = 0;
    let rejected = 0;
    for (let trial = 0; trial < 3000; trial++) {
      const k = foldIn(key, trial);
      const [which, nflips, cutMode] = Array.from(randint(k, 3, 1 << 30));
      const src = sources[which % sources.length];
      const bytes = src.slice();
      const flips = 1 + (nflips % 4);
      const pos = randint(foldIn(k, 1), flips, Math.min(bytes.length, trial % 2 === 0 ? 128 : bytes.length));
      const vals = randint(foldIn(k, 2), flips, 256);
      for (let f = 0; f < flips; f++) bytes[pos[f]] = vals[f];
      let input = bytes;
      if (cutMode % 5 === 0) input = bytes.subarray(0, randint(foldIn(k, 3), 1, bytes.length + 1)[0]);
      if (cutMode % 7 === 0) input = Uint8Array.from(randint(foldIn(k, 4), cutMode % 200, 256));
      try {
        parseNpy(input, 'fuzz.npy');
        parsed++;
      } catch (e) {
        if (!(e instanceof InputError)) throw new Error(`trial ${trial}: ${String(e)}`);
        expect(e.message.startsWith('fuzz.npy: ')).toBe(true);
        rejected++;
      }
    }
    expect(parsed).toBeGreaterThan(100);
    expect(rejected).toBeGreaterThan(100);
  });
});

function writeAndPath(name: string, bytes: Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
}
