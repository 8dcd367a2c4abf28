/**
 * Exact linear assignment (minimum-cost perfect matching of rows to columns) by shortest
 * augmenting paths with dual potentials: the Jonker–Volgenant scheme (Jonker & Volgenant 1987,
 * "A shortest augmenting path algorithm for dense and sparse linear assignment problems") in the
 * form of Crouse 2016 ("On implementing 2D rectangular assignment algorithms", Alg. 1–4), which is
 * also what scipy.optimize.linear_sum_assignment runs. O(n^2 m) worst case, far less in practice.
 *
 * 1. Column reduction (JV's initialisation, square problems only): `v_j = min_i c_ij`; a column
 *    whose minimising row is still free is assigned to it. Then every reduced cost
 *    `c_ij - u_i - v_j` is >= 0 and every assigned pair is tight, which is all the augmentation
 *    phase needs. (With more columns than rows, a column left unassigned must keep the largest
 *    dual value, so there we start from `v = 0` as Crouse does.)
 * 2. For each free row: Dijkstra on reduced costs over the columns, from the row, until a free
 *    column is reached (Crouse Alg. 3); update the duals so that reduced costs stay >= 0 and the
 *    new path is tight (Alg. 4, lines 11–14); flip the path.
 *
 * Dual feasibility plus complementary slackness at the end certify optimality (LP duality).
 * Costs live in one dense row-major Float64Array; all work arrays are typed and allocated once.
 */

/** Result of `linearSumAssignment`. */
export interface Assignment {
  /** Column assigned to each row. */
  readonly rowToCol: Int32Array;
  /** Sum of the assigned costs. */
  readonly cost: number;
}

/**
 * Minimum-cost assignment of `nRows` rows to distinct columns of the `nRows x nCols` row-major
 * `cost` matrix (`nRows <= nCols`; square by default). Costs must be finite.
 *
 * @example linearSumAssignment(Float64Array.from([4, 1, 3, 2, 0, 5, 3, 2, 2]), 3).cost // 5
 */
export function linearSumAssignment(cost: Float64Array, nRows: number, nCols: number = nRows): Assignment {
  if (!Number.isInteger(nRows) || nRows < 1) throw new RangeError(`assignment: need at least one row, got ${nRows}`);
  if (!Number.isInteger(nCols) || nCols < nRows) {
    throw new RangeError(`assignment: need nCols >= nRows (got ${nRows} x ${nCols}); transpose the cost matrix`);
  }
  if (cost.length !== nRows * nCols) {
    throw new RangeError(`assignment: cost has ${cost.length} entries, expected ${nRows} x ${nCols} = ${nRows * nCols}`);
  }
  for (let k = 0; k < cost.length; k++) {
    if (!Number.isFinite(cost[k])) {
      throw new RangeError(`assignment: non-finite cost ${cost[k]} at row ${Math.floor(k / nCols)}, column ${k % nCols}`);
    }
  }
  const n = nRows;
  const m = nCols;
  const u = new Float64Array(n);
  const v = new Float64Array(m);
  const col4row = new Int32Array(n).fill(-1);
  const row4col = new Int32Array(m).fill(-1);

  // Stage 1: column reduction (square only, see above).
  for (let j = 0; j < (n === m ? m : 0); j++) {
    let best = Infinity;
    let arg = 0;
    for (let i = 0; i < n; i++) {
      const c = cost[i * m + j];
      if (c < best) {
        best = c;
        arg = i;
      }
    }
    v[j] = best;
    if (col4row[arg] < 0) {
      col4row[arg] = j;
      row4col[j] = arg;
    }
  }

  // Stage 2: shortest augmenting paths from each free row.
  const dist = new Float64Array(m); // shortest reduced path cost to each column
  const pred = new Int32Array(m); // row preceding each column on the path tree
  const remaining = new Int32Array(m); // columns not yet scanned
  const scannedCols = new Int32Array(m);
  const visitedRows = new Int32Array(n);
  for (let cur = 0; cur < n; cur++) {
    if (col4row[cur] >= 0) continue;
    let numRemaining = m;
    for (let k = 0; k < m; k++) {
      remaining[k] = m - 1 - k;
      dist[k] = Infinity;
    }
    let numScanned = 0;
    let numVisited = 0;
    let minVal = 0;
    let i = cur;
    let sink = -1;
    while (sink < 0) {
      visitedRows[numVisited++] = i;
      const base = i * m;
      const shift = minVal - u[i];
      let lowest = Infinity;
      let index = -1;
      for (let k = 0; k < numRemaining; k++) {
        const j = remaining[k];
        const r = shift + cost[base + j] - v[j];
        let dj = dist[j];
        if (r < dj) {
          pred[j] = i;
          dist[j] = r;
          dj = r;
        }
        // Ties go to a free column: it ends the search sooner.
        if (dj < lowest || (dj === lowest && row4col[j] < 0)) {
          lowest = dj;
          index = k;
        }
      }
      minVal = lowest;
      const j = remaining[index];
      scannedCols[numScanned++] = j;
      remaining[index] = remaining[--numRemaining];
      if (row4col[j] < 0) sink = j;
      else i = row4col[j];
    }
    // Dual update: keeps c_ij - u_i - v_j >= 0 and makes the augmenting path tight.
    u[cur] += minVal;
    for (let k = 1; k < numVisited; k++) {
      const r = visitedRows[k];
      u[r] += minVal - dist[col4row[r]];
    }
    for (let k = 0; k < numScanned; k++) {
      const j = scannedCols[k];
      v[j] -= minVal - dist[j];
    }
    // Flip the path from the sink back to the current row.
    let j = sink;
    for (;;) {
      const r = pred[j];
      row4col[j] = r;
      const prev = col4row[r];
      col4row[r] = j;
      if (r === cur) break;
      j = prev;
    }
  }

  let total = 0;
  for (let i = 0; i < n; i++) total += cost[i * m + col4row[i]];
  return { rowToCol: col4row, cost: total };
}
