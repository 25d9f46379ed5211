/** Locating ../shared (read-only research files beside the checkout) and Debian's Fashion-MNIST. */
import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { join, resolve } from 'node:path';

const repoRoot = resolve(new URL('../..', import.meta.url).pathname);
export const sharedDir = resolve(repoRoot, '..', 'shared');
export const hasShared = existsSync(sharedDir);
/** Pass as `{ skip: skipWithoutShared }` to node:test; the reason is printed in the test output. */
export const skipWithoutShared: string | false = hasShared ? false : `../shared is absent (looked at ${sharedDir})`;

export const zooDir = join(sharedDir, 'zoo');
export const mobilenetInt8Path = join(zooDir, 'validated/vision/classification/mobilenet/model/mobilenetv2-12-int8.onnx');
export const lightFixture = (name: 'resnet50' | 'vgg19' | 'squeezenet'): string =>
  join(sharedDir, 'fixtures', 'light', `light_${name}.onnx`);
export const manifestPath = join(sharedDir, 'ref', 'ONNX_HUB_MANIFEST.json');

export const fashionMnistDir = '/usr/share/datasets/fashion-mnist';
export const hasFashionMnist = existsSync(join(fashionMnistDir, 't10k-images-idx3-ubyte.gz'));
export const skipWithoutFashionMnist: string | false = hasFashionMnist
  ? false
  : `Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)`;

export const FASHION_CLASS_NAMES = [
  'tshirt', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag', 'boot',
] as const;

export interface GrayImages {
  readonly count: number;
  readonly height: number;
  readonly width: number;
  /** count × height × width uint8, row-major. */
  readonly pixels: Uint8Array;
  readonly labels: Uint8Array;
}

/** Reads Fashion-MNIST's idx files ('train' 60k or 't10k' 10k). */
export function loadFashionMnist(split: 'train' | 't10k'): GrayImages {
  const images = gunzipSync(readFileSync(join(fashionMnistDir, `${split}-images-idx3-ubyte.gz`)));
  const labels = gunzipSync(readFileSync(join(fashionMnistDir, `${split}-labels-idx1-ubyte.gz`)));
  const count = images.readUInt32BE(4);
  const height = images.readUInt32BE(8);
  const width = images.readUInt32BE(12);
  return {
    count, height, width,
    pixels: new Uint8Array(images.buffer, images.byteOffset + 16, count * height * width),
    labels: new Uint8Array(labels.buffer, labels.byteOffset + 8, count),
  };
}
