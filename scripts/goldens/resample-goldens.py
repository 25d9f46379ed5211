#!/usr/bin/python3
"""Golden values for src/image/resample.ts, from Pillow and PyTorch themselves.

Run with Debian's Python (python3-pil, python3-torch, python3-numpy):
    /usr/bin/python3 scripts/goldens/resample-goldens.py > test/image/fixtures/resample-goldens.json

For fixed pseudo-random 8-bit inputs (smooth ramps, hard 0/255 edges that make bicubic overshoot, noise) it records:
- Pillow's BILINEAR, BICUBIC and NEAREST resize (and BILINEAR, BICUBIC with a fractional source box), called on the
  core image (`im.im.resize`) so that every band is
  resampled as is (Image.resize would premultiply RGBA/LA first);
- torch.nn.functional.interpolate(mode='bilinear', align_corners=False) on the float32 tensor of the same values
  (NCHW contiguous; the script checks that the channels_last kernel agrees within 1e-4 and prints the difference).
Arrays are base64: uint8 for the inputs and Pillow outputs, little-endian float32 for PyTorch's.
"""
import base64
import json
import sys

import numpy as np
import PIL
import torch
import torch.nn.functional as F
from PIL import Image

MODES = {1: 'L', 2: 'LA', 3: 'RGB', 4: 'RGBA'}
FILTERS = {'pil-bilinear': Image.BILINEAR, 'pil-bicubic': Image.BICUBIC, 'nearest': Image.NEAREST}

# name, (width, height) in, (width, height) out, channels
CASES = [
    ('upscale-28-to-64-gray', (28, 28), (64, 64), 1),
    ('downscale-64x48-to-28x21-rgb', (64, 48), (28, 21), 3),
    ('odd-upscale-7x5-to-13x9-rgb', (7, 5), (13, 9), 3),
    ('mixed-13x9-to-5x17-rgba', (13, 9), (5, 17), 4),
    ('column-1x17-to-1x40-gray', (1, 17), (1, 40), 1),
    ('row-23x1-to-9x1-rgb', (23, 1), (9, 1), 3),
    ('row-1xN-5x1-to-12x3-gray-alpha', (5, 1), (12, 3), 2),
    ('pixel-1x1-to-3x2-rgb', (1, 1), (3, 2), 3),
    ('large-factor-97x61-to-8x5-gray', (97, 61), (8, 5), 1),
    ('near-identity-30x20-to-29x21-gray-alpha', (30, 20), (29, 21), 2),
    ('same-width-20x30-to-20x11-rgb', (20, 30), (20, 11), 3),
    ('upscale-27x18-to-30x20-rgb', (27, 18), (30, 20), 3),
]

# Pillow only: a source box (its `box` argument; what Image.resize(reducing_gap=…) passes after reduce()).
BOX_CASES = [
    ('box-downscale-61x47-to-17x13-rgb', (61, 47), (17, 13), 3, (0.0, 0.0, 60.25, 46.5)),
    ('box-fractional-40x30-to-11x9-gray', (40, 30), (11, 9), 1, (1.5, 2.25, 38.75, 29.0)),
]


def make_input(width, height, channels, seed):
    rng = np.random.RandomState(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    planes = []
    for channel in range(channels):
        ramp = 255 * (0.5 + 0.5 * np.sin((x * (channel + 1) + 2 * y) / max(3.0, width / 4)))
        edges = np.where(((x // 3 + y // 2 + channel) % 3) == 0, 255.0, 0.0)
        noise = rng.randint(0, 256, size=(height, width))
        choice = rng.randint(0, 3, size=(height, width))
        planes.append(np.where(choice == 0, ramp, np.where(choice == 1, edges, noise)))
    return np.clip(np.rint(np.stack(planes, axis=-1)), 0, 255).astype(np.uint8)


def b64(array):
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode('ascii')


def pil_resize(pixels, channels, size, resample, box=None):
    image = Image.fromarray(pixels[:, :, 0] if channels == 1 else pixels, MODES[channels])
    resized = image._new(image.im.resize(size, resample, box or (0, 0) + image.size))
    return np.asarray(resized, dtype=np.uint8).reshape(size[1], size[0], channels)


def torch_bilinear(pixels, size, channels_last):
    tensor = torch.from_numpy(pixels.astype(np.float32)).permute(2, 0, 1).unsqueeze(0).contiguous()
    if channels_last:
        tensor = tensor.contiguous(memory_format=torch.channels_last)
    out = F.interpolate(tensor, size=(size[1], size[0]), mode='bilinear', align_corners=False)
    return out[0].permute(1, 2, 0).contiguous().numpy().astype('<f4')


def main():
    cases = []
    for seed, (name, (width, height), (out_width, out_height), channels) in enumerate(CASES):
        pixels = make_input(width, height, channels, seed)
        pil = {key: b64(pil_resize(pixels, channels, (out_width, out_height), value)) for key, value in FILTERS.items()}
        contiguous = torch_bilinear(pixels, (out_width, out_height), False)
        channels_last = torch_bilinear(pixels, (out_width, out_height), True)
        layout_difference = float(np.abs(contiguous - channels_last).max())
        print(f'{name}: torch contiguous vs channels_last max |diff| {layout_difference:.2e}', file=sys.stderr)
        assert layout_difference <= 1e-4, name
        cases.append({
            'name': name, 'width': width, 'height': height, 'channels': channels,
            'outWidth': out_width, 'outHeight': out_height,
            'input': b64(pixels), 'pil': pil,
            'torchBilinear': b64(contiguous),
        })
    for index, (name, (width, height), (out_width, out_height), channels, box) in enumerate(BOX_CASES):
        pixels = make_input(width, height, channels, 100 + index)
        pil = {key: b64(pil_resize(pixels, channels, (out_width, out_height), FILTERS[key], box))
               for key in ('pil-bilinear', 'pil-bicubic')}
        cases.append({
            'name': name, 'width': width, 'height': height, 'channels': channels,
            'outWidth': out_width, 'outHeight': out_height, 'sourceBox': list(box),
            'input': b64(pixels), 'pil': pil,
        })
    json.dump({
        'generator': 'scripts/goldens/resample-goldens.py',
        'versions': {'Pillow': PIL.__version__, 'torch': torch.__version__, 'numpy': np.__version__},
        'cases': cases,
    }, sys.stdout, separators=(',', ':'))
    sys.stdout.write('\n')


if __name__ == '__main__':
    main()
