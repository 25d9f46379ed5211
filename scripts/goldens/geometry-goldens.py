#!/usr/bin/python3
"""Golden values for resizeGeometry's `torchvision` convention (src/image/resample-kernels.js), from torchvision itself.

Run with Debian's Python (python3-pil, python3-torchvision, python3-numpy):
    /usr/bin/python3 scripts/goldens/geometry-goldens.py > test/image/fixtures/geometry-goldens.json

- `geometry`: for image sizes where rounding matters, the size torchvision's `Resize(resize)` gives a PIL image
  (`int(size * long / short)`: the longer side rounded down) and the corner `CenterCrop(crop)` cuts at
  (`int(round((h - crop) / 2.0))`: half to even), read back from an image whose pixels hold their own coordinates.
- `pixels`: `Compose([Resize(resize), CenterCrop(crop)])` of small pseudo-random RGB images (PIL BILINEAR),
  base64 uint8 HWC, with the input.
"""
import base64
import json

import numpy as np
import PIL
import torchvision
from PIL import Image
from torchvision import transforms

GEOMETRY = [  # width, height, resize, crop
    (375, 500, 224, 224), (500, 375, 256, 224), (500, 332, 256, 224), (640, 480, 256, 224), (300, 500, 256, 224),
    (333, 500, 256, 224), (37, 23, 16, 14), (23, 37, 16, 13), (29, 41, 20, 15), (101, 100, 64, 61), (100, 100, 9, 6),
    (7, 200, 5, 2), (499, 500, 256, 224),
]
PIXELS = [(23, 37, 16, 14), (41, 29, 20, 15), (30, 30, 17, 12)]


def crop_corner(width, height, crop):
    """The (left, top) CenterCrop(crop) cuts from a width x height image."""
    coordinates = (np.arange(height)[:, None] * 65536 + np.arange(width)[None, :]).astype(np.int32)
    cropped = np.asarray(transforms.CenterCrop(crop)(Image.fromarray(coordinates, mode='I')))
    return int(cropped[0, 0] % 65536), int(cropped[0, 0] // 65536)


def main():
    geometry = []
    for width, height, resize, crop in GEOMETRY:
        resized = transforms.Resize(resize)(Image.new('L', (width, height)))
        left, top = crop_corner(resized.width, resized.height, crop)
        geometry.append({'width': width, 'height': height, 'resizeSize': resize, 'cropSize': crop,
                         'resizeWidth': resized.width, 'resizeHeight': resized.height, 'cropLeft': left, 'cropTop': top})
    rng = np.random.default_rng(17)
    pixels = []
    for width, height, resize, crop in PIXELS:
        data = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        data[: height // 2, : width // 3] = 255  # a hard edge
        out = transforms.Compose([transforms.Resize(resize), transforms.CenterCrop(crop)])(Image.fromarray(data, 'RGB'))
        pixels.append({'width': width, 'height': height, 'resizeSize': resize, 'cropSize': crop,
                       'input': base64.b64encode(data.tobytes()).decode(),
                       'output': base64.b64encode(np.asarray(out).tobytes()).decode()})
    print(json.dumps({'pillow': PIL.__version__, 'torchvision': torchvision.__version__,
                      'geometry': geometry, 'pixels': pixels}, indent=1))


main()
