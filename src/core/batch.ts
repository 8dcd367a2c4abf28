/**
 * A batch of points: `n` rows of `dim` coordinates, row-major, batch-first, float64.
 * Row i occupies `data[i*dim .. (i+1)*dim)`. All TS-side math uses this type; conversion to
 * float32 happens only at the edge of a network call (see `core/engine.ts`).
 */
export interface Batch {
  readonly n: number;
  readonly dim: number;
  readonly data: Float64Array;
}

/** Make a batch, allocating zeros when `data` is omitted. Checks that the sizes agree. */
export function makeBatch(n: number, dim: number, data?: Float64Array | ArrayLike<number>): Batch {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`batch size must be a non-negative integer, got ${n}`);
  if (!Number.isInteger(dim) || dim < 1) throw new RangeError(`dimension must be a positive integer, got ${dim}`);
  if (data === undefined) return { n, dim, data: new Float64Array(n * dim) };
  if (data.length !== n * dim) {
    throw new RangeError(`batch data has ${data.length} values but n*dim = ${n}*${dim} = ${n * dim}`);
  }
  return { n, dim, data: data instanceof Float64Array ? data : Float64Array.from(data) };
}

/** Batch from an array of rows (all of the same length). */
export function fromRows(rows: ReadonlyArray<ArrayLike<number>>): Batch {
  if (rows.length === 0) throw new RangeError('fromRows needs at least one row to know the dimension');
  const dim = rows[0].length;
  const data = new Float64Array(rows.length * dim);
  rows.forEach((r, i) => {
    if (r.length !== dim) throw new RangeError(`row ${i} has ${r.length} values, expected ${dim}`);
    for (let j = 0; j < dim; j++) data[i * dim + j] = r[j];
  });
  return { n: rows.length, dim, data };
}

/** Rows as plain arrays (for tests, JSON and plotting). */
export function toRows(b: Batch): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < b.n; i++) out.push(Array.from(b.data.subarray(i * b.dim, (i + 1) * b.dim)));
  return out;
}

/** A view of row i (shares memory). */
export function row(b: Batch, i: number): Float64Array {
  return b.data.subarray(i * b.dim, (i + 1) * b.dim);
}

/** Deep copy. */
export function cloneBatch(b: Batch): Batch {
  return { n: b.n, dim: b.dim, data: b.data.slice() };
}

/** Rows `start..end` (copied). */
export function sliceRows(b: Batch, start: number, end: number): Batch {
  return { n: end - start, dim: b.dim, data: b.data.slice(start * b.dim, end * b.dim) };
}

/** Column j as a new array. */
export function column(b: Batch, j: number): Float64Array {
  const out = new Float64Array(b.n);
  for (let i = 0; i < b.n; i++) out[i] = b.data[i * b.dim + j];
  return out;
}

/** Index of the first non-finite value, or -1. */
export function firstNonFinite(values: ArrayLike<number>): number {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) return i;
  return -1;
}

/** Throw a clear error when a batch holds NaN or Inf; `what` names the batch in the message. */
export function assertFinite(b: Batch, what: string): void {
  const k = firstNonFinite(b.data);
  if (k >= 0) {
    const i = Math.floor(k / b.dim);
    throw new RangeError(`${what} holds a non-finite value (${b.data[k]}) at row ${i}, column ${k % b.dim}`);
  }
}

/** Throw when two batches do not have the same dimension. */
export function assertSameDim(a: Batch, b: Batch, what: string): void {
  if (a.dim !== b.dim) throw new RangeError(`${what}: dimensions differ (${a.dim} vs ${b.dim})`);
}
