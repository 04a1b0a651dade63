#!/usr/bin/env python3
"""Writes the small data files the loader tests read (committed; rerun to regenerate).

IDX as on the MNIST site: big-endian magic 0x00000803 (images, [n, rows, cols] unsigned bytes) or 0x00000801
(labels), then the dimensions, then the bytes.
"""
import gzip
import os
import struct

here = os.path.dirname(os.path.abspath(__file__))


def write(name, data):
    opener = gzip.open if name.endswith(".gz") else open
    with opener(os.path.join(here, name), "wb") as f:
        f.write(data)


pixels = bytes((i * 37) % 256 for i in range(3 * 2 * 2))
write("tiny-images-idx3-ubyte.gz", struct.pack(">IIII", 0x803, 3, 2, 2) + pixels)
write("tiny-labels-idx1-ubyte", struct.pack(">II", 0x801, 3) + bytes([7, 0, 9]))
write("truncated-labels-idx1-ubyte", struct.pack(">II", 0x801, 5) + bytes([1, 2]))
write("wrong-magic-idx1-ubyte", struct.pack(">II", 0x803, 1) + bytes([1]))

with open(os.path.join(here, "iris-small.csv"), "w") as f:
    f.write("sepal_length,sepal_width,species\n5.1,3.5,0\n7.0,3.2,1\n6.3,3.3,2\n4.9,3.0,0\n")
with open(os.path.join(here, "bad-value.csv"), "w") as f:
    f.write("x1,x2,y\n1.0,2.0,0\n3.0,abc,1\n")
with open(os.path.join(here, "bad-label.csv"), "w") as f:
    f.write("x1,y\n1.0,0\n2.0,1.5\n")
with open(os.path.join(here, "short-row.csv"), "w") as f:
    f.write("x1,x2,y\n1.0,2.0,0\n3.0,1\n")
