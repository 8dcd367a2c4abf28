/**
 * Building blocks of hand-written ONNX graphs, on the ONNX schema compiled for protobuf-es
 * (`onnx-buf`, `@bufbuild/protobuf`), not hand-rolled protobuf: float32 and int64 initializers,
 * graph inputs and outputs, nodes with integer attributes, and the serialised ModelProto.
 *
 * Shared by the network export (`io/onnx-export.ts`: the MLP and EGNN forward) and the
 * onnxruntime training step (`models/onnx-train-step.ts`: forward, backward and optimiser in one
 * graph), so that both write the same opset and IR version.
 */
import { create, toBinary } from '@bufbuild/protobuf';
import {
  AttributeProto_AttributeType, AttributeProtoSchema, ModelProtoSchema, NodeProtoSchema, OperatorSetIdProtoSchema,
  StringStringEntryProtoSchema, TensorProto_DataType, TensorProtoSchema, TensorShapeProto_DimensionSchema, TensorShapeProtoSchema,
  TypeProto_TensorSchema, TypeProtoSchema, ValueInfoProtoSchema, type GraphProto, type NodeProto, type TensorProto, type ValueInfoProto,
} from 'onnx-buf';

/**
 * Opset 17 / IR version 8: what PyTorch 1.13 (Debian's python3-torch) writes at its highest
 * opset, and well inside what onnxruntime 1.30 and @jax-js/onnx read. Nothing newer is needed.
 */
export const ONNX_OPSET = 17;
export const ONNX_IR_VERSION = 8;

/** A float32 tensor initializer; raw little-endian bytes (compact, and what PyTorch writes). */
export function floatTensor(name: string, dims: number[], data: Float32Array | Float64Array | readonly number[]): TensorProto {
  const bytes = new Uint8Array(data.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i], true);
  return create(TensorProtoSchema, { name, dims: dims.map(BigInt), dataType: TensorProto_DataType.FLOAT, rawData: bytes });
}

/** A float32 graph input/output of shape `dims` (strings are symbolic dimensions). */
export function floatValue(name: string, dims: (number | string)[]): ValueInfoProto {
  const dim = dims.map((d) => create(TensorShapeProto_DimensionSchema, {
    value: typeof d === 'number' ? { case: 'dimValue', value: BigInt(d) } : { case: 'dimParam', value: d },
  }));
  const tensorType = create(TypeProto_TensorSchema, { elemType: TensorProto_DataType.FLOAT, shape: create(TensorShapeProtoSchema, { dim }) });
  return create(ValueInfoProtoSchema, { name, type: create(TypeProtoSchema, { value: { case: 'tensorType', value: tensorType } }) });
}

/** An int64 tensor initializer (shapes, axes, indices), raw little-endian bytes. */
export function int64Tensor(name: string, dims: number[], data: number[]): TensorProto {
  const bytes = new Uint8Array(data.length * 8);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < data.length; i++) view.setBigInt64(i * 8, BigInt(data[i]), true);
  return create(TensorProtoSchema, { name, dims: dims.map(BigInt), dataType: TensorProto_DataType.INT64, rawData: bytes });
}

/** A node with integer attributes (`axis`, `transB`, `keepdims`, ...); named after its first output. */
export function node(opType: string, input: string[], output: string[], ints: Record<string, number> = {}): NodeProto {
  const attribute = Object.entries(ints).map(([name, v]) => create(AttributeProtoSchema, { name, type: AttributeProto_AttributeType.INT, i: BigInt(v) }));
  return create(NodeProtoSchema, { opType, input, output, name: `${opType}_${output[0]}`, attribute });
}

/** A graph as a serialised ModelProto (opset 17, IR 8) with `metadata` as `metadata_props`. */
export function modelProtoBytes(graph: GraphProto, docString: string, metadata: Record<string, string> = {}): Uint8Array {
  const model = create(ModelProtoSchema, {
    irVersion: BigInt(ONNX_IR_VERSION),
    opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: BigInt(ONNX_OPSET) })],
    producerName: 'tweedie',
    docString,
    graph,
    metadataProps: Object.entries(metadata).map(([key, value]) => create(StringStringEntryProtoSchema, { key, value })),
  });
  return toBinary(ModelProtoSchema, model);
}
