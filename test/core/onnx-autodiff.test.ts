/**
 * The ONNX reverse-mode differentiator (`core/onnx-autodiff.ts`), rule by rule on tiny graphs run
 * by onnxruntime: the VJP `sum(cot * d out / d x)` the backward nodes compute against central
 * finite differences of `sum(cot * out)` on the same graph; broadcasting in every direction
 * (rank padding, stretched 1s, a batch dimension), all four Gemm transpositions with a
 * broadcast bias, ReduceSum with and without kept axes, Reshape/Unsqueeze/Concat/Split (a Split
 * piece with no cotangent: zeros), Gather's scatter-add by both paths (regular and irregular
 * index tables), the fused SiLU rule and `Mul(x, x)`; and one graph with a symbolic batch run
 * at two batch sizes. Plus shape inference and the refusals.
 *
 * Tolerance: central differences at h = 2e-2 and h/2 on float32 graphs, Richardson-extrapolated
 * (`(4 D(h/2) - D(h)) / 3`): truncation O(h^4 |f^(5)|) ~ 1e-6 for these O(1) functions, plus
 * rounding ~ (5/3) eps32 |sum| / (h/2) with eps32 = 6e-8 and |sum| of order 10 (~1e-4); so
 * |fd - vjp| <= 1e-3 (1 + |vjp|) is about 10x above the expected error, and a wrong rule (a
 * missing factor, a wrong axis, a dropped term) is off by O(1).
 */
import { create } from '@bufbuild/protobuf';
import { GraphProtoSchema, type NodeProto, type TensorProto } from 'onnx-buf';
import { describe, expect, it } from 'vitest';
import { inferShapes, vjpNodes, type ShapeSpec } from '../../src/core/onnx-autodiff.js';
import { floatTensor, floatValue, int64Tensor, modelProtoBytes, node } from '../../src/core/onnx-graph.js';
import { keyFromSeed, normal } from '../../src/core/key.js';
import { createOrtSession, onnxRuntimeAvailable } from '../../src/core/onnx-runtime.js';

const hasOrt = onnxRuntimeAvailable();

interface Case {
  nodes: NodeProto[];
  initializer?: TensorProto[];
  /** Differentiated inputs with their shapes ('n' = batch). */
  inputs: Record<string, ShapeSpec>;
  /** Shape of `out` (with 'n'). */
  out: ShapeSpec;
}

/** The forward plus the backward as one graph: inputs and `cot`, outputs `out` and `<x>.grad`. */
function gradSession(c: Case) {
  const wrt = Object.keys(c.inputs);
  const init = c.initializer ?? [];
  const back = vjpNodes({ nodes: c.nodes, initializer: init, inputs: c.inputs }, { out: 'cot' }, wrt);
  const nodes = [...c.nodes, ...back.nodes, ...wrt.map((x) => node('Identity', [back.grads[x]], [`${x}.grad`]))];
  const graph = create(GraphProtoSchema, {
    name: 'autodiff_case',
    node: nodes,
    initializer: [...init, ...back.initializer],
    input: [...wrt.map((x) => floatValue(x, c.inputs[x])), floatValue('cot', c.out)],
    output: [floatValue('out', c.out), ...wrt.map((x) => floatValue(`${x}.grad`, c.inputs[x]))],
  });
  return createOrtSession(modelProtoBytes(graph, 'test'), { threads: 1, optimization: 'disabled' });
}

/** Checks every differentiated input's VJP against central differences at batch size `n`. */
function checkCase(c: Case, n = 3, seed = 1): void {
  const s = gradSession(c);
  const dims = (sh: ShapeSpec): number[] => sh.map((d) => (d === 'n' ? n : d));
  const size = (sh: ShapeSpec): number => dims(sh).reduce((a, b) => a * b, 1);
  const feeds: Record<string, [Float32Array, number[]]> = {};
  let k = seed;
  for (const [x, sh] of Object.entries(c.inputs)) feeds[x] = [Float32Array.from(normal(keyFromSeed(k++), size(sh)), (v) => 0.8 * v), dims(sh)];
  feeds.cot = [Float32Array.from(normal(keyFromSeed(k++), size(c.out))), dims(c.out)];
  const names = Object.keys(c.inputs);
  const r = s.run(feeds, ['out', ...names.map((x) => `${x}.grad`)]);
  const objective = (f: Record<string, [Float32Array, number[]]>): number => {
    const o = s.run(f, ['out']).out.data;
    let acc = 0;
    for (let i = 0; i < o.length; i++) acc += o[i] * feeds.cot[0][i];
    return acc;
  };
  const h = 2e-2;
  for (const x of names) {
    const g = r[`${x}.grad`].data;
    expect(g.length, x).toBe(feeds[x][0].length);
    let nonzero = 0;
    for (let i = 0; i < g.length; i++) {
      const at = (step: number): number => {
        const v = feeds[x][0].slice();
        v[i] += step;
        return objective({ ...feeds, [x]: [v, feeds[x][1]] });
      };
      // Central differences at h and h/2, Richardson-extrapolated: error O(h^4) (module comment).
      const d1 = (at(h) - at(-h)) / (2 * h);
      const d2 = (at(h / 2) - at(-h / 2)) / h;
      const fd = (4 * d2 - d1) / 3;
      expect(Math.abs(fd - g[i]), `${x}[${i}]: finite difference ${fd}, vjp ${g[i]}`).toBeLessThanOrEqual(1e-3 * (1 + Math.abs(g[i])));
      if (Math.abs(g[i]) > 1e-3) nonzero++;
    }
    expect(nonzero, `${x}: the gradient is not trivially zero`).toBeGreaterThan(0);
  }
  s.dispose();
}

const n1 = (type: string, inputs: string[], out: string, ints: Record<string, number> = {}): NodeProto => node(type, inputs, [out], ints);

describe('onnx-autodiff shape inference', () => {
  it('tracks the batch dimension through Reshape to [-1, k] and back', () => {
    const { shape } = inferShapes(
      [n1('Reshape', ['x', 's.rows'], 'r'), n1('Gemm', ['r', 'W'], 'y', { transB: 1 }), n1('Reshape', ['y', 's.back'], 'out')],
      [int64Tensor('s.rows', [2], [-1, 3]), floatTensor('W', [5, 3], new Float32Array(15)), int64Tensor('s.back', [3], [-1, 2, 5])],
      { x: ['n', 2, 3] },
    );
    expect(shape.get('r')).toEqual([{ c: 2, k: 1 }, { c: 3, k: 0 }]);
    expect(shape.get('out')).toEqual([{ c: 1, k: 1 }, { c: 2, k: 0 }, { c: 5, k: 0 }]);
  });

  it('refuses ops without a rule, bad broadcasts and computed Gather indices', () => {
    expect(() => inferShapes([n1('Relu', ['x'], 'out')], [], { x: [2] })).toThrow(/Relu.*not supported/);
    expect(() => inferShapes([n1('Add', ['x', 'y'], 'out')], [], { x: [2, 3], y: [2] })).toThrow(/do not broadcast/);
    expect(() => vjpNodes({ nodes: [n1('Exp', ['x'], 'out')], initializer: [], inputs: { x: [2] } }, { out: 'c' }, ['x'])).toThrow(/Exp/);
  });
});

describe.skipIf(!hasOrt)('onnx-autodiff VJP rules against finite differences', () => {
  it('elementwise ops with broadcasting both ways: Add, Sub, Mul, Div, Neg, Sqrt, Sigmoid, Sin, Cos', () => {
    // a [n, 3, 4], b [3, 1] (padded and stretched), c [4] (padded), all differentiated.
    checkCase({
      nodes: [
        n1('Add', ['a', 'b'], 'ab'), n1('Sub', ['ab', 'c'], 'abc'), n1('Mul', ['abc', 'b'], 'm'),
        n1('Mul', ['c', 'c'], 'c2'), n1('Add', ['c2', 'one'], 'den'), n1('Div', ['m', 'den'], 'q'),
        n1('Sigmoid', ['q'], 'sg'), n1('Sin', ['a'], 'sa'), n1('Cos', ['b'], 'cb'), n1('Neg', ['cb'], 'ncb'),
        n1('Mul', ['sg', 'sa'], 'p'), n1('Add', ['p', 'ncb'], 'pp'),
        n1('Mul', ['a', 'a'], 'a2'), n1('Add', ['a2', 'one'], 'a21'), n1('Sqrt', ['a21'], 'sq'), n1('Add', ['pp', 'sq'], 'out'),
      ],
      initializer: [floatTensor('one', [1], [1])],
      inputs: { a: ['n', 3, 4], b: [3, 1], c: [4] },
      out: ['n', 3, 4],
    });
  });

  it('Div by a broadcast denominator and Sub of a broadcast right side', () => {
    checkCase({
      nodes: [n1('Mul', ['b', 'b'], 'b2'), n1('Add', ['b2', 'one'], 'den'), n1('Div', ['a', 'den'], 'q'), n1('Sub', ['q', 'a'], 'out')],
      initializer: [floatTensor('one', [1], [1])],
      inputs: { a: ['n', 2, 3], b: ['n', 1, 1] },
      out: ['n', 2, 3],
    });
  });

  for (const [transA, transB] of [[0, 0], [0, 1], [1, 0], [1, 1]]) {
    it(`Gemm transA=${transA} transB=${transB} with a broadcast bias`, () => {
      checkCase({
        nodes: [n1('Gemm', ['A', 'B', 'C'], 'y', { transA, transB }), n1('Sigmoid', ['y'], 'out')],
        inputs: { A: transA ? [3, 4] : [4, 3], B: transB ? [5, 3] : [3, 5], C: [5] },
        out: [4, 5],
      });
    });
  }

  it('Gemm on batch rows (the A input batch-sized), bias [1, N]', () => {
    checkCase({
      nodes: [n1('Gemm', ['A', 'B', 'C'], 'out', { transB: 1 })],
      inputs: { A: ['n', 3], B: [2, 3], C: [1, 2] },
      out: ['n', 2],
    });
  });

  it('ReduceSum (kept and dropped axes, negative axis), Reshape, Unsqueeze', () => {
    checkCase({
      nodes: [
        n1('Mul', ['x', 'x'], 'x2'),
        n1('ReduceSum', ['x2', 'ax.last'], 'r1', { keepdims: 1 }), // [n, 2, 1]
        n1('ReduceSum', ['x', 'ax.1'], 'r2', { keepdims: 0 }), // [n, 3]
        n1('Unsqueeze', ['r2', 'ax.1'], 'r2u'), // [n, 1, 3]
        n1('Mul', ['r1', 'r2u'], 'p'), // [n, 2, 3]
        n1('Reshape', ['p', 's.flat'], 'pf'), // [n, 6]
        n1('Sin', ['pf'], 'out'),
      ],
      initializer: [int64Tensor('ax.last', [1], [-1]), int64Tensor('ax.1', [1], [1]), int64Tensor('s.flat', [2], [-1, 6])],
      inputs: { x: ['n', 2, 3] },
      out: ['n', 6],
    });
  });

  it('ReduceSum over the batch axis (the Expand target from the runtime shape)', () => {
    checkCase({
      nodes: [n1('Mul', ['x', 'x'], 'x2'), n1('ReduceSum', ['x2', 'ax.0'], 'out', { keepdims: 0 })],
      initializer: [int64Tensor('ax.0', [1], [0])],
      inputs: { x: ['n', 3] },
      out: [3],
    });
  });

  it('Concat and Split (one Split piece unused: zero cotangent)', () => {
    checkCase({
      nodes: [
        node('Split', ['p', 'sizes'], ['p0', 'p1', 'p2'], { axis: 0 }),
        n1('Concat', ['x', 'x'], 'xx', { axis: 1 }), // [n, 4]
        n1('Mul', ['xx', 'p0'], 'a'), // p0 [4]
        n1('Mul', ['p2', 'p2'], 'b'), // [4]
        n1('Add', ['a', 'b'], 'out'),
      ],
      initializer: [int64Tensor('sizes', [3], [4, 2, 4])],
      inputs: { x: ['n', 2], p: [10] },
      out: ['n', 4],
    });
  });

  it('Gather with a regular index table (every index twice: the gather-and-sum scatter)', () => {
    checkCase({
      nodes: [n1('Gather', ['x', 'nb'], 'g', { axis: 1 }), n1('Mul', ['g', 'g'], 'out')],
      initializer: [int64Tensor('nb', [3, 2], [1, 2, 2, 0, 0, 1])],
      inputs: { x: ['n', 3, 2] },
      out: ['n', 3, 2, 2],
    });
  });

  it('Gather with an irregular, negative-index table (the 0/1 MatMul scatter)', () => {
    checkCase({
      nodes: [n1('Gather', ['x', 'idx'], 'g', { axis: 1 }), n1('Sin', ['g'], 'out')],
      initializer: [int64Tensor('idx', [4], [0, 0, -1, 0])],
      inputs: { x: ['n', 3, 2] },
      out: ['n', 4, 2],
    });
  });

  it('SiLU as Mul(z, Sigmoid(z)) (the fused rule) and as Sigmoid with a second reader (the generic rules)', () => {
    checkCase({
      nodes: [n1('Sigmoid', ['z'], 's'), n1('Mul', ['z', 's'], 'out')],
      inputs: { z: ['n', 5] },
      out: ['n', 5],
    });
    checkCase({
      nodes: [n1('Sigmoid', ['z'], 's'), n1('Mul', ['z', 's'], 'h'), n1('Add', ['h', 's'], 'out')],
      inputs: { z: ['n', 5] },
      out: ['n', 5],
    });
  });

  it('one graph with a symbolic batch runs at two batch sizes', () => {
    const c: Case = {
      nodes: [n1('Reshape', ['x', 's.rows'], 'r'), n1('Gemm', ['r', 'W'], 'y', { transB: 1 }), n1('Reshape', ['y', 's.back'], 'z'), n1('Sigmoid', ['z'], 'out')],
      initializer: [int64Tensor('s.rows', [2], [-1, 3]), int64Tensor('s.back', [3], [-1, 2, 4])],
      inputs: { x: ['n', 2, 3], W: [4, 3] },
      out: ['n', 2, 4],
    };
    checkCase(c, 1);
    checkCase(c, 5, 7);
  });
});
