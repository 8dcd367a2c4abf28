/**
 * Small ONNX graphs for the import tests, built with the ONNX schema (onnx-buf + protobuf-es).
 */
import { create, toBinary } from '@bufbuild/protobuf';
import {
  GraphProtoSchema, ModelProtoSchema, NodeProtoSchema, OperatorSetIdProtoSchema, TensorProto_DataType, TensorShapeProto_DimensionSchema,
  TensorShapeProtoSchema, TypeProto_TensorSchema, TypeProtoSchema, ValueInfoProtoSchema,
} from 'onnx-buf';

/** A one-op graph x [n, 2] (, t) -> out, built with the ONNX schema. */
export function graphBytes(opts: { op?: string; xDims?: (number | string)[]; tDims?: (number | string)[]; outDims?: (number | string)[]; xType?: number; echoTime?: boolean }): Uint8Array {
  const value = (name: string, dims: (number | string)[], elemType: number = TensorProto_DataType.FLOAT) => create(ValueInfoProtoSchema, {
    name,
    type: create(TypeProtoSchema, {
      value: {
        case: 'tensorType',
        value: create(TypeProto_TensorSchema, {
          elemType,
          shape: create(TensorShapeProtoSchema, {
            dim: dims.map((d) => create(TensorShapeProto_DimensionSchema, { value: typeof d === 'number' ? { case: 'dimValue', value: BigInt(d) } : { case: 'dimParam', value: d } })),
          }),
        }),
      },
    }),
  });
  const xDims = opts.xDims ?? ['n', 2];
  const graph = create(GraphProtoSchema, {
    name: 'g',
    // out = op(x) + 0 * t, so that both inputs are used; `echoTime`: out = 0 * x + t (the time
    // the network sees, broadcast over the row).
    node: opts.echoTime
      ? [
        create(NodeProtoSchema, { opType: 'Mul', input: ['x', 'x'], output: ['xx'] }),
        create(NodeProtoSchema, { opType: 'Sub', input: ['xx', 'xx'], output: ['zero'] }),
        create(NodeProtoSchema, { opType: 'Add', input: ['zero', 't'], output: ['out'] }),
      ]
      : [
        create(NodeProtoSchema, { opType: opts.op ?? 'Identity', input: ['x'], output: ['y'] }),
        create(NodeProtoSchema, { opType: 'Mul', input: ['t', 't'], output: ['tt'] }),
        create(NodeProtoSchema, { opType: 'Sub', input: ['tt', 'tt'], output: ['zero'] }),
        create(NodeProtoSchema, { opType: 'Add', input: ['y', 'zero'], output: ['out'] }),
      ],
    input: [value('x', xDims, opts.xType), value('t', opts.tDims ?? ['n', 1])],
    output: [value('out', opts.outDims ?? xDims)],
  });
  return toBinary(ModelProtoSchema, create(ModelProtoSchema, {
    irVersion: 8n, opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: 17n })], producerName: 'test', graph,
  }));
}

