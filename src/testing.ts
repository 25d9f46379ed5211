/**
 * @file `finetune/testing`: seeded, tiny ONNX backbones (VGG-like and ResNet-like, built with protobufjs) for tests
 * that must not download a zoo model: ours, and those of projects that build on finetune. Not part of the main API.
 */
export { buildResnetBackbone, buildVgg16Backbone, buildVggBackbone } from './onnx/test-backbones.js';
export type { TestBackbone, TestBackboneOptions, Vgg16BackboneOptions } from './onnx/test-backbones.js';
