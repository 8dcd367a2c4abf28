import { describe, expect, it } from 'vitest';
import {
  categorical, foldIn, keyData, keyFromData, keyFromSeed, normal, permutation, randomBits, split, threefry2x32, uniform,
} from '../../src/core/key.js';

describe('threefry2x32', () => {
  // Random123 known-answer vectors (tests/kat_vectors): threefry2x32 20 <ctr0 ctr1> <key0 key1> -> <out0 out1>.
  const kat: [number, number, number, number, number, number][] = [
    [0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x6b200159, 0x99ba4efe],
    [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x1cb996fc, 0xbb002be7],
    [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xc4923a9c, 0x483df7a0],
  ];
  it.each(kat)('matches the published vector for ctr (%i, %i)', (c0, c1, k0, k1, o0, o1) => {
    const out = new Uint32Array(2);
    threefry2x32(k0, k1, c0, c1, out);
    expect([out[0], out[1]]).toEqual([o0, o1]);
  });
});

describe('keys', () => {
  const key = keyFromSeed(0);
  it('is deterministic and pure', () => {
    expect(uniform(key, 5)).toEqual(uniform(keyFromSeed(0), 5));
    expect(keyData(key)).toEqual([0, 0]);
    expect(split(key, 3)).toEqual(split(key, 3));
  });
  it('separates split, foldIn and seeds', () => {
    const [a, b] = split(key, 2);
    const c = foldIn(key, 0);
    const words = [a, b, c, keyFromSeed(1)].map((k) => keyData(k).join(','));
    expect(new Set(words).size).toBe(4);
    expect(uniform(a, 3)).not.toEqual(uniform(b, 3));
  });
  it('gives a prefix-consistent stream (value j does not depend on n)', () => {
    expect(uniform(key, 7).subarray(0, 3)).toEqual(uniform(key, 3));
    expect(randomBits(key, 5).subarray(0, 4)).toEqual(randomBits(key, 4));
  });
  it('round-trips key data and rejects bad input', () => {
    const k = foldIn(keyFromSeed(123456789012), 7);
    expect(keyFromData(keyData(k))).toEqual(k);
    expect(() => keyFromSeed(-1)).toThrow(/non-negative/);
    expect(() => keyFromSeed(1.5)).toThrow(/integer/);
    expect(() => foldIn(key, -2)).toThrow(/foldIn/);
    expect(() => keyFromData([1, 2, 3])).toThrow(/two 32-bit/);
  });
});

describe('distributions', () => {
  // Tolerances: z = 4.5 standard errors (two-sided p ≈ 7e-6 per check) with fixed keys.
  const Z = 4.5;
  const n = 200_000;
  it('uniform has mean 1/2 and variance 1/12 and stays inside (0,1)', () => {
    const u = uniform(keyFromSeed(1), n);
    let s = 0, s2 = 0, lo = 1, hi = 0;
    for (const v of u) { s += v; s2 += v * v; lo = Math.min(lo, v); hi = Math.max(hi, v); }
    const mean = s / n;
    expect(Math.abs(mean - 0.5)).toBeLessThan(Z * Math.sqrt(1 / 12 / n));
    // Var of U^2 is 1/5 - 1/9 = 4/45.
    expect(Math.abs(s2 / n - 1 / 3)).toBeLessThan(Z * Math.sqrt(4 / 45 / n));
    expect(lo).toBeGreaterThan(0);
    expect(hi).toBeLessThan(1);
  });
  it('normal has mean 0, variance 1 and the normal fourth moment', () => {
    const z = normal(keyFromSeed(2), n);
    let s = 0, s2 = 0, s4 = 0;
    for (const v of z) { s += v; s2 += v * v; s4 += v ** 4; }
    expect(Math.abs(s / n)).toBeLessThan(Z * Math.sqrt(1 / n));
    expect(Math.abs(s2 / n - 1)).toBeLessThan(Z * Math.sqrt(2 / n));
    expect(Math.abs(s4 / n - 3)).toBeLessThan(Z * Math.sqrt(96 / n)); // Var z^4 = 105 - 9
    // Lag-one correlation within the Box-Muller pairs and across them.
    let c = 0;
    for (let i = 0; i + 1 < n; i++) c += z[i] * z[i + 1];
    expect(Math.abs(c / (n - 1))).toBeLessThan(Z * Math.sqrt(1 / n));
  });
  it('categorical matches the given probabilities', () => {
    const p = [0.1, 0.2, 0.7];
    const rows = 60_000;
    const logits = new Float64Array(rows * 3);
    for (let i = 0; i < rows; i++) for (let j = 0; j < 3; j++) logits[i * 3 + j] = Math.log(p[j]) + 5;
    const draws = categorical(keyFromSeed(3), logits, rows, 3);
    const counts = [0, 0, 0];
    for (const d of draws) counts[d]++;
    p.forEach((pj, j) => expect(Math.abs(counts[j] / rows - pj)).toBeLessThan(Z * Math.sqrt(pj * (1 - pj) / rows)));
    const masked = categorical(keyFromSeed(4), Float64Array.from([-Infinity, 0, -Infinity]), 1, 3);
    expect(masked[0]).toBe(1);
    expect(() => categorical(keyFromSeed(4), Float64Array.from([NaN, 0]), 1, 2)).toThrow(/NaN/);
  });
  it('permutation is a permutation', () => {
    const p = permutation(keyFromSeed(5), 1000);
    expect(Array.from(p).sort((a, b) => a - b)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
  });
});
