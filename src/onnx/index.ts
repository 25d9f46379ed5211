/**
 * @file The ONNX model layer: the IR schema and message types, reading/writing models, graph builders and
 * edits (dense head, baked preprocessing, opset upgrades), static shape inference (a table of rules per op
 * family), skimming and inspection, cutting a backbone at its feature layer, and seeded test backbones.
 */

// Schema and message types
export { AttributeType, DataLocation, TensorDataType, dataTypeByteSize, dataTypeName, onnxType } from './proto.js';
export type {
  AttributeProto, FunctionProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, SparseTensorProto,
  StringStringEntryProto, TensorAnnotation, TensorProto, TensorShapeDimension, TensorShapeProto, TrainingInfoProto,
  TypeProto, ValueInfoProto,
} from './proto.js';

// Reading and writing
export { decodeModel, forEachTensor, readModel } from './read-model.js';
export type { DecodeModelOptions, ReadModelOptions } from './read-model.js';
export { hasDiskWeights, loadDiskWeights } from './disk-weights.js';
export { encodeModel, writeModel } from './write-model.js';

// Building and editing graphs
export {
  attribute, attributeFloat, attributeInt, attributeInts, attributeString, dataTypeCode, emptyTensor, getAttribute,
  irVersionForOpset, makeAttribute, makeGraph, makeModel, makeNode, makeTensor, makeValueInfo, opsetVersion,
  setOpsetAtLeast, valueInfoDims, valueInfoElemType,
} from './graph-builder.js';
export type { DimSpec, MakeGraphOptions, MakeModelOptions, MakeNodeOptions, TensorElementType, TensorValues } from './graph-builder.js';
export { cloneGraphShallow, graphTensorNames, NameScope, renameTensor } from './graph-names.js';
export { HEAD_FIRST_GEMM, HEAD_PREFIX, appendDenseHead } from './append-head.js';
export type { AppendDenseHeadOptions, HeadOutputNames } from './append-head.js';
export { PREPROCESS_PREFIX, bakePreprocessing } from './bake-preprocessing.js';
export type { BakePreprocessingOptions } from './bake-preprocessing.js';
export { resolveTargetOpset } from './opset-upgrade.js';
export { skimModel } from './skim-model.js';
export type { SkimmedModel } from './skim-model.js';
export { pruneGraph } from './prune-graph.js';
export type { PruneGraphOptions, PruneGraphResult } from './prune-graph.js';
export { tensorElementCount, tensorFloat32, tensorNumbers } from './tensor-data.js';

// Understanding and cutting models
export { inferShapes } from './infer-shapes.js';
export type { Dim, InferShapesOptions, TensorInfo } from './infer-shapes.js';
export { inspectModel } from './inspect-model.js';
export type { FeatureTensorSummary, ModelInspection, TensorSummary } from './inspect-model.js';
export { formatInspection } from './format-inspection.js';
export { FEATURES_OUTPUT, cutBackbone } from './cut-backbone.js';
export type { CutBackbone, CutBackboneOptions } from './cut-backbone.js';

// Test backbones (tests, demo, bench)
