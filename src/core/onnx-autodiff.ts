/**
 * Reverse-mode differentiation of an ONNX node list: given forward nodes, the values to
 * differentiate with respect to (`wrt`) and cotangents of some outputs, emit the nodes that
 * compute the vector-Jacobian products `sum_k cot_k . d out_k / d wrt` (the backward pass of
 * reverse-mode autodiff, Griewank & Walther, "Evaluating Derivatives", ch. 3), as more ONNX
 * nodes. Used by the onnxruntime training step of the EGNN (`models/onnx-egnn-train-step.ts`),
 * whose gradient is too long to write out by hand as the MLP's is.
 *
 * Scope: the ops of this project's network graphs, each with its VJP rule (`g` the cotangent of
 * the output y; unb(v, a) sums v over the axes that broadcasting added or stretched to a's shape):
 *   Add          ga = unb(g, a),        gb = unb(g, b)
 *   Sub          ga = unb(g, a),        gb = unb(-g, b)
 *   Mul          ga = unb(g b, a),      gb = unb(g a, b)
 *   Div          ga = unb(g / b, a),    gb = unb(-(g y) / b, b)          (d(a/b)/db = -y/b)
 *   Neg          -g;   Sqrt  g / (2 y);   Sigmoid  g y (1 - y);   Sin  g cos x;   Cos  -g sin x
 *   Mul(z, Sigmoid(z)) (SiLU, as our graphs write it) as one rule: gz = g (s + y - y s), y = z s
 *   Gemm         Y = A' B' + C:  gA' = g B'^T,  gB' = A'^T g,  gC = unb(g, C)   (alpha = beta = 1)
 *   Reshape, Unsqueeze, Identity   Reshape(g, shape of x)
 *   ReduceSum    Expand(g with the reduced axes kept, shape of x)
 *   Concat       Split(g) along the axis;   Split   Concat of the pieces' cotangents (zeros if none)
 *   Gather (constant indices)   the scatter-add onto the gathered axis: when every index occurs
 *                equally often (c times), Gather of g at the c positions of each index and a
 *                ReduceSum; otherwise MatMul with the constant 0/1 matrix S[j, q] = [idx_q = j].
 * Values that do not depend on `wrt` (the time embedding of t, index tables) get no cotangent,
 * and an input's cotangent is computed only where it is needed.
 *
 * Shapes are inferred statically from the graph inputs' shapes and the initializers, with one
 * symbolic dimension, the batch `n`: a dimension is `c n^k` (k = 0 or 1), so that a Reshape to
 * `[-1, H]` of `[n, P, E, H]` is `[n P E, H]`, and the backward's Reshapes name the batch
 * dimension as -1. A graph built once serves every batch size.
 *
 * The SiLU rule: `y = z s` with `s = Sigmoid(z)` read generically is six elementwise passes over
 * an edge-sized tensor in the backward (g s, g z, 1 - s, s (1 - s), product, sum); the fused rule
 * is four, on the tensors that dominate the EGNN's step. It applies when the Sigmoid's output is
 * used by that Mul only.
 */
import type { NodeProto, TensorProto } from 'onnx-buf';
import { floatTensor, int64Tensor, node } from './onnx-graph.js';

/** A dimension `c n^k`: static when k = 0, a multiple of the batch size n when k = 1. */
export interface Dim {
  c: number;
  k: number;
}

/** A shape as given for graph inputs: numbers, or 'n' for the batch dimension. */
export type ShapeSpec = (number | 'n')[];

const ONE: Dim = { c: 1, k: 0 };
const dimOf = (d: number | 'n'): Dim => (d === 'n' ? { c: 1, k: 1 } : { c: d, k: 0 });
const isOne = (d: Dim): boolean => d.k === 0 && d.c === 1;
const dimEq = (a: Dim, b: Dim): boolean => a.c === b.c && a.k === b.k;
const shapeEq = (a: Dim[], b: Dim[]): boolean => a.length === b.length && a.every((d, i) => dimEq(d, b[i]));
const prod = (s: Dim[]): Dim => s.reduce((a, d) => ({ c: a.c * d.c, k: a.k + d.k }), ONE);
const showShape = (s: Dim[]): string => `[${s.map((d) => (d.k === 0 ? String(d.c) : d.c === 1 ? 'n' : `${d.c}n`)).join(', ')}]`;

/** `s` as a Reshape target: static dims as numbers, the one symbolic dim as -1 (undefined if more). */
function reshapeTarget(s: Dim[]): number[] | undefined {
  if (s.filter((d) => d.k > 0).length > 1) return undefined;
  return s.map((d) => (d.k > 0 ? -1 : d.c));
}

function broadcastShapes(a: Dim[], b: Dim[], where: string): Dim[] {
  const r = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < r; i++) {
    const da = a[i - (r - a.length)] ?? ONE;
    const db = b[i - (r - b.length)] ?? ONE;
    if (isOne(da)) out.push(db);
    else if (isOne(db) || dimEq(da, db)) out.push(da);
    else throw new RangeError(`${where}: shapes ${showShape(a)} and ${showShape(b)} do not broadcast`);
  }
  return out;
}

function intAttr(n: NodeProto, name: string, dflt: number): number {
  const a = n.attribute.find((x) => x.name === name);
  return a === undefined ? dflt : Number(a.i);
}

function int64Values(t: TensorProto): number[] {
  if (t.int64Data.length > 0) return t.int64Data.map(Number);
  const v = new DataView(t.rawData.buffer, t.rawData.byteOffset, t.rawData.byteLength);
  return Array.from({ length: t.rawData.byteLength / 8 }, (_, i) => Number(v.getBigInt64(i * 8, true)));
}

const normAxis = (a: number, rank: number): number => (a < 0 ? a + rank : a);

/** What the shape inference knows: every value's shape, and the int64 constants' values. */
export interface GraphShapes {
  shape: Map<string, Dim[]>;
  ints: Map<string, number[]>;
}

/**
 * Static shapes of every value of `nodes` (in topological order) from the graph inputs' shapes
 * and the initializers. Throws on an op outside the supported set or on a shape mismatch.
 */
export function inferShapes(nodes: readonly NodeProto[], initializer: readonly TensorProto[], inputs: Record<string, ShapeSpec>): GraphShapes {
  const shape = new Map<string, Dim[]>();
  const ints = new Map<string, number[]>();
  for (const [name, s] of Object.entries(inputs)) shape.set(name, s.map(dimOf));
  for (const t of initializer) {
    shape.set(t.name, t.dims.map((d) => dimOf(Number(d))));
    if (t.dataType === 7) ints.set(t.name, int64Values(t)); // INT64
  }
  const get = (name: string, n: NodeProto): Dim[] => {
    const s = shape.get(name);
    if (s === undefined) throw new RangeError(`${n.opType} node '${n.name}': input '${name}' has no known shape`);
    return s;
  };
  const constInts = (name: string, n: NodeProto): number[] => {
    const v = ints.get(name);
    if (v === undefined) throw new RangeError(`${n.opType} node '${n.name}': '${name}' must be an int64 initializer`);
    return v;
  };
  for (const n of nodes) {
    const ins = n.input.map((i) => (i === '' ? [] : get(i, n)));
    const x = ins[0];
    let outs: Dim[][];
    switch (n.opType) {
      case 'Add': case 'Sub': case 'Mul': case 'Div':
        outs = [broadcastShapes(ins[0], ins[1], `${n.opType} node '${n.name}'`)];
        break;
      case 'Neg': case 'Sqrt': case 'Sigmoid': case 'Sin': case 'Cos': case 'Identity':
        outs = [x];
        break;
      case 'Reshape': {
        const target = constInts(n.input[1], n);
        const total = prod(x);
        const known = target.map((d, i) => (d === 0 ? x[i] : d === -1 ? ONE : dimOf(d)));
        const rest = prod(known);
        outs = [known.map((d, i) => (target[i] === -1 ? { c: total.c / rest.c, k: total.k - rest.k } : d))];
        const r = prod(outs[0]);
        if (!dimEq(r, total) || !Number.isInteger(r.c) || outs[0].some((d) => d.k < 0 || !Number.isInteger(d.c))) {
          throw new RangeError(`Reshape node '${n.name}': cannot view ${showShape(x)} as [${target.join(', ')}]`);
        }
        break;
      }
      case 'Unsqueeze': {
        const given = constInts(n.input[1], n);
        const axes = given.map((a) => normAxis(a, x.length + given.length)).sort((a, b) => a - b);
        const out = [...x];
        for (const a of axes) out.splice(a, 0, ONE);
        outs = [out];
        break;
      }
      case 'Gemm': {
        const [a, b] = ins;
        const m = intAttr(n, 'transA', 0) ? a[1] : a[0];
        const ka = intAttr(n, 'transA', 0) ? a[0] : a[1];
        const kb = intAttr(n, 'transB', 0) ? b[1] : b[0];
        const nn = intAttr(n, 'transB', 0) ? b[0] : b[1];
        if (a.length !== 2 || b.length !== 2 || !dimEq(ka, kb)) throw new RangeError(`Gemm node '${n.name}': ${showShape(a)} by ${showShape(b)}`);
        outs = [[m, nn]];
        if (ins.length > 2) broadcastShapes(outs[0], ins[2], `Gemm node '${n.name}'`);
        break;
      }
      case 'MatMul': {
        const [a, b] = ins;
        if (a.length < 2 || b.length < 2 || !dimEq(a[a.length - 1], b[b.length - 2])) throw new RangeError(`MatMul node '${n.name}': ${showShape(a)} by ${showShape(b)}`);
        const batch = broadcastShapes(a.slice(0, -2), b.slice(0, -2), `MatMul node '${n.name}'`);
        outs = [[...batch, a[a.length - 2], b[b.length - 1]]];
        break;
      }
      case 'ReduceSum': {
        const axes = n.input.length > 1 && n.input[1] !== '' ? constInts(n.input[1], n).map((a) => normAxis(a, x.length)) : x.map((_, i) => i);
        const keep = intAttr(n, 'keepdims', 1) === 1;
        outs = [keep ? x.map((d, i) => (axes.includes(i) ? ONE : d)) : x.filter((_, i) => !axes.includes(i))];
        break;
      }
      case 'Expand': {
        outs = [broadcastShapes(x, constInts(n.input[1], n).map((d) => dimOf(d)), `Expand node '${n.name}'`)];
        break;
      }
      case 'Gather': {
        const axis = normAxis(intAttr(n, 'axis', 0), x.length);
        outs = [[...x.slice(0, axis), ...ins[1], ...x.slice(axis + 1)]];
        break;
      }
      case 'Concat': {
        const axis = normAxis(intAttr(n, 'axis', 0), x.length);
        if (ins.some((s) => s[axis].k !== x[axis].k)) throw new RangeError(`Concat node '${n.name}': static and batch-sized pieces along the axis`);
        outs = [x.map((d, i) => (i === axis ? { c: ins.reduce((acc, s) => acc + s[axis].c, 0), k: d.k } : d))];
        break;
      }
      case 'Split': {
        const axis = normAxis(intAttr(n, 'axis', 0), x.length);
        const sizes = n.input.length > 1 && n.input[1] !== '' ? constInts(n.input[1], n) : n.output.map(() => x[axis].c / n.output.length);
        if (x[axis].k !== 0) throw new RangeError(`Split node '${n.name}': split axis must be static`);
        outs = sizes.map((c) => x.map((d, i) => (i === axis ? { c, k: 0 } : d)));
        break;
      }
      default:
        throw new RangeError(`onnx-autodiff: op '${n.opType}' (node '${n.name}') is not supported`);
    }
    n.output.forEach((o, i) => shape.set(o, outs[i]));
  }
  return { shape, ints };
}

/** The backward nodes and initializers, and the cotangent value of each `wrt` name. */
export interface VjpGraph {
  nodes: NodeProto[];
  initializer: TensorProto[];
  /** `wrt` name -> the value holding its cotangent (same shape). */
  grads: Record<string, string>;
}

export interface VjpOptions {
  /** Prefix of every value and initializer the backward creates ['grad']. */
  prefix?: string;
}

/**
 * The backward of `forward` (module comment): cotangents `cotangents[out]` (value names, each of
 * `out`'s shape) pulled back to each `wrt` value. `inputs` are the shapes of the forward's graph
 * inputs (the batch dimension as 'n'); a `wrt` value that no seeded output depends on gets an
 * all-zero cotangent (static shapes only).
 */
export function vjpNodes(
  forward: { nodes: readonly NodeProto[]; initializer: readonly TensorProto[]; inputs: Record<string, ShapeSpec> },
  cotangents: Record<string, string>,
  wrt: readonly string[],
  opts: VjpOptions = {},
): VjpGraph {
  const prefix = opts.prefix ?? 'grad';
  const { shape, ints } = inferShapes(forward.nodes, forward.initializer, forward.inputs);
  for (const [o, c] of Object.entries(cotangents)) {
    if (!shape.has(o)) throw new RangeError(`onnx-autodiff: cotangent given for '${o}', which the forward does not compute`);
    if (c === '') throw new RangeError(`onnx-autodiff: empty cotangent name for '${o}'`);
  }
  for (const w of wrt) if (!shape.has(w)) throw new RangeError(`onnx-autodiff: '${w}' is not a value of the forward`);

  // 1. Which values depend on `wrt` (forward sweep), and which of those reach a seeded output
  //    (backward sweep): only nodes between the two get a VJP.
  const depends = new Set<string>(wrt);
  for (const n of forward.nodes) if (n.input.some((i) => depends.has(i))) n.output.forEach((o) => depends.add(o));
  const reaches = new Set<string>(Object.keys(cotangents));
  for (let i = forward.nodes.length - 1; i >= 0; i--) {
    const n = forward.nodes[i];
    if (n.output.some((o) => reaches.has(o))) n.input.forEach((x) => reaches.add(x));
  }
  const active = (v: string): boolean => depends.has(v) && reaches.has(v);
  // How often each value is read (for the SiLU rule's single-use condition).
  const uses = new Map<string, number>();
  for (const n of forward.nodes) for (const i of n.input) uses.set(i, (uses.get(i) ?? 0) + 1);
  const producer = new Map<string, NodeProto>();
  for (const n of forward.nodes) for (const o of n.output) producer.set(o, n);

  const nodes: NodeProto[] = [];
  const initializer: TensorProto[] = [];
  let uid = 0;
  const fresh = (base: string): string => `${prefix}/${base}_${uid++}`;
  const op = (type: string, inputs: string[], ints_: Record<string, number> = {}, out = fresh(type.toLowerCase())): string => {
    nodes.push(node(type, inputs, [out], ints_));
    return out;
  };
  const consts = new Map<string, string>();
  const intConst = (vals: number[]): string => {
    const key = `i:${vals.join(',')}`;
    let name = consts.get(key);
    if (name === undefined) {
      name = `${prefix}/const_${consts.size}`;
      initializer.push(int64Tensor(name, [vals.length], vals));
      consts.set(key, name);
    }
    return name;
  };
  const floatConst = (v: number): string => {
    const key = `f:${v}`;
    let name = consts.get(key);
    if (name === undefined) {
      name = `${prefix}/const_${consts.size}`;
      initializer.push(floatTensor(name, [1], [v]));
      consts.set(key, name);
    }
    return name;
  };
  const shapeOf = (v: string): Dim[] => shape.get(v)!;
  /** `g` (of shape `gs`) viewed as `target` (same number of entries). */
  const reshape = (g: string, gs: Dim[], target: Dim[], like: string): string => {
    if (shapeEq(gs, target)) return g;
    const t = reshapeTarget(target);
    return op('Reshape', [g, t !== undefined ? intConst(t) : op('Shape', [like])]);
  };
  /** unb(g, a): `g` of shape `gs` summed down to `a`'s shape (numpy broadcasting reversed). */
  const unbroadcast = (g: string, gs: Dim[], a: string): string => {
    const as = shapeOf(a);
    if (shapeEq(gs, as)) return g;
    const pad = gs.length - as.length;
    const axes = gs.map((d, i) => i).filter((i) => (i < pad || isOne(as[i - pad])) && !isOne(gs[i]));
    const reduced = axes.length > 0 ? op('ReduceSum', [g, intConst(axes)], { keepdims: 1 }) : g;
    return reshape(reduced, gs.map((d, i) => (axes.includes(i) ? ONE : d)), as, a);
  };

  // 2. Cotangent contributions per value, summed when the value is read more than once.
  const contrib = new Map<string, string[]>();
  for (const [o, c] of Object.entries(cotangents)) contrib.set(o, [c]);
  const add = (v: string, g: string): void => {
    const list = contrib.get(v);
    if (list) list.push(g);
    else contrib.set(v, [g]);
  };
  const total = (v: string): string | undefined => {
    const list = contrib.get(v);
    if (list === undefined || list.length === 0) return undefined;
    let acc = list[0];
    for (let i = 1; i < list.length; i++) acc = op('Add', [acc, list[i]]);
    contrib.set(v, [acc]);
    return acc;
  };
  const zeros = (v: string): string => {
    const s = shapeOf(v);
    if (s.some((d) => d.k > 0)) throw new RangeError(`onnx-autodiff: '${v}' gets no cotangent and has a batch-sized shape`);
    const name = fresh('zeros');
    initializer.push(floatTensor(name, s.map((d) => d.c), new Float32Array(s.reduce((a, d) => a * d.c, 1))));
    return name;
  };

  // 3. The VJPs, last node first.
  for (let idx = forward.nodes.length - 1; idx >= 0; idx--) {
    const n = forward.nodes[idx];
    if (!n.output.some(active)) continue;
    const gys = n.output.map(total);
    if (gys.every((g) => g === undefined)) continue;
    const g = gys[0]!;
    const y = n.output[0];
    const ys = shapeOf(y);
    const [a, b] = n.input;
    const want = (v: string | undefined): v is string => v !== undefined && v !== '' && active(v);
    switch (n.opType) {
      case 'Add':
        if (want(a)) add(a, unbroadcast(g, ys, a));
        if (want(b)) add(b, unbroadcast(g, ys, b));
        break;
      case 'Sub':
        if (want(a)) add(a, unbroadcast(g, ys, a));
        if (want(b)) add(b, unbroadcast(op('Neg', [g]), ys, b));
        break;
      case 'Mul': {
        // SiLU: y = z Sigmoid(z), the Sigmoid read by this node only (so it gets no cotangent).
        const sig = producer.get(b);
        if (a === sig?.input[0] && sig.opType === 'Sigmoid' && uses.get(b) === 1) {
          if (want(a)) {
            // d(z s)/dz = s + z s (1 - s) = s + y - y s
            const d = op('Sub', [op('Add', [b, y]), op('Mul', [y, b])]);
            add(a, op('Mul', [g, d]));
          }
          break;
        }
        if (want(a)) add(a, unbroadcast(a === b ? op('Mul', [g, op('Add', [b, b])]) : op('Mul', [g, b]), ys, a));
        if (want(b) && a !== b) add(b, unbroadcast(op('Mul', [g, a]), ys, b));
        break;
      }
      case 'Div':
        if (want(a)) add(a, unbroadcast(op('Div', [g, b]), ys, a));
        if (want(b)) add(b, unbroadcast(op('Neg', [op('Div', [op('Mul', [g, y]), b])]), ys, b));
        break;
      case 'Neg':
        if (want(a)) add(a, op('Neg', [g]));
        break;
      case 'Identity':
        if (want(a)) add(a, g);
        break;
      case 'Sqrt':
        if (want(a)) add(a, op('Div', [op('Mul', [g, floatConst(0.5)]), y]));
        break;
      case 'Sigmoid':
        if (want(a)) add(a, op('Mul', [g, op('Mul', [y, op('Sub', [floatConst(1), y])])]));
        break;
      case 'Sin':
        if (want(a)) add(a, op('Mul', [g, op('Cos', [a])]));
        break;
      case 'Cos':
        if (want(a)) add(a, op('Neg', [op('Mul', [g, op('Sin', [a])])]));
        break;
      case 'Reshape': case 'Unsqueeze':
        if (want(a)) add(a, reshape(g, ys, shapeOf(a), a));
        break;
      case 'ReduceSum': {
        if (!want(a)) break;
        const xs = shapeOf(a);
        const axes = n.input.length > 1 && n.input[1] !== '' ? ints.get(n.input[1])!.map((v) => normAxis(v, xs.length)) : xs.map((_, i) => i);
        const kept = xs.map((d, i) => (axes.includes(i) ? ONE : d));
        const gk = reshape(g, ys, kept, a);
        const target = xs.map((d, i) => (axes.includes(i) ? d : ONE));
        const static_ = target.every((d) => d.k === 0);
        add(a, op('Expand', [gk, static_ ? intConst(target.map((d) => d.c)) : op('Shape', [a])]));
        break;
      }
      case 'Gemm': {
        if (n.attribute.some((at) => (at.name === 'alpha' || at.name === 'beta') && at.f !== 1)) {
          throw new RangeError(`onnx-autodiff: Gemm node '${n.name}' with alpha or beta other than 1`);
        }
        const tA = intAttr(n, 'transA', 0);
        const tB = intAttr(n, 'transB', 0);
        // Y = A' B' + C with A' = A^T if transA, B' = B^T if transB.
        // gA = g B'^T (transA = 0) or B' g^T (transA = 1); gB = A'^T g (transB = 0) or g^T A' (transB = 1).
        if (want(a)) add(a, tA === 0 ? op('Gemm', [g, b], { transB: tB === 0 ? 1 : 0 }) : op('Gemm', [b, g], { transA: tB, transB: 1 }));
        if (want(b)) add(b, tB === 0 ? op('Gemm', [a, g], { transA: tA === 0 ? 1 : 0 }) : op('Gemm', [g, a], { transA: 1, transB: tA }));
        const c = n.input[2];
        if (want(c)) add(c, unbroadcast(g, ys, c));
        break;
      }
      case 'Gather': {
        if (want(n.input[1])) throw new RangeError(`onnx-autodiff: Gather node '${n.name}' with computed indices`);
        if (!want(a)) break;
        const xs = shapeOf(a);
        const axis = normAxis(intAttr(n, 'axis', 0), xs.length);
        const N = xs[axis];
        if (N.k !== 0) throw new RangeError(`onnx-autodiff: Gather node '${n.name}' along a batch-sized axis`);
        const idx = ints.get(n.input[1]);
        if (idx === undefined) throw new RangeError(`onnx-autodiff: Gather node '${n.name}' needs constant (initializer) indices`);
        const q = idx.map((v) => normAxis(v, N.c));
        const A = prod(xs.slice(0, axis));
        const R = prod(xs.slice(axis + 1));
        const g3 = reshape(g, ys, [A, { c: q.length, k: 0 }, R], a); // [A, Q, R]
        const counts = new Array<number>(N.c).fill(0);
        for (const v of q) counts[v]++;
        let s: string; // [A, N, R]
        if (counts.every((c) => c === counts[0]) && counts[0] > 0) {
          // Each index occurs c times: gather its c positions and sum them.
          const inv: number[][] = Array.from({ length: N.c }, () => []);
          q.forEach((v, pos) => inv[v].push(pos));
          const table = fresh('scatter');
          initializer.push(int64Tensor(table, [N.c, counts[0]], inv.flat()));
          s = op('ReduceSum', [op('Gather', [g3, table], { axis: 1 }), intConst([2])], { keepdims: 0 });
        } else {
          const S = new Float32Array(N.c * q.length);
          q.forEach((v, pos) => { S[v * q.length + pos] = 1; });
          const mat = fresh('scatter');
          initializer.push(floatTensor(mat, [N.c, q.length], S));
          s = op('MatMul', [mat, g3]);
        }
        add(a, reshape(s, [A, N, R], xs, a));
        break;
      }
      case 'Concat': {
        const axis = normAxis(intAttr(n, 'axis', 0), ys.length);
        const sizes = n.input.map((i) => shapeOf(i)[axis]);
        if (sizes.some((d) => d.k !== 0)) throw new RangeError(`onnx-autodiff: Concat node '${n.name}' along a batch-sized axis`);
        const outs = n.input.map(() => fresh('split'));
        nodes.push(node('Split', [g, intConst(sizes.map((d) => d.c))], outs, { axis }));
        n.input.forEach((i, k) => { if (want(i)) add(i, outs[k]); });
        break;
      }
      case 'Split': {
        if (!want(a)) break;
        const axis = normAxis(intAttr(n, 'axis', 0), shapeOf(a).length);
        const parts = n.output.map((o, k) => gys[k] ?? zeros(o));
        add(a, parts.length === 1 ? parts[0] : op('Concat', parts, { axis }));
        break;
      }
      default:
        throw new RangeError(`onnx-autodiff: no VJP rule for op '${n.opType}' (node '${n.name}')`);
    }
  }
  const grads: Record<string, string> = {};
  for (const w of wrt) grads[w] = total(w) ?? zeros(w);
  return { nodes, initializer, grads };
}
