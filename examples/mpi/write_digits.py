"""Writes scikit-learn's digits (1,797 8x8 images, shipped inside scikit-learn: no download) for
examples/mpi/dp_sgd.c: one record of 65 bytes per image, in scikit-learn's order: the 64 pixel
values (0..16, row by row) then the label (0..9).

    python3 examples/mpi/write_digits.py digits.bin
"""
import sys

import numpy as np
from sklearn.datasets import load_digits


def main(path):
    data = load_digits()
    records = np.concatenate([data.data, data.target[:, None]], axis=1).astype(np.uint8)
    assert records.shape == (1797, 65) and records[:, :64].max() == 16 and records[:, 64].max() == 9
    records.tofile(path)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: write_digits.py OUTPUT")
    main(sys.argv[1])
