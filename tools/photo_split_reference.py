#!/usr/bin/env python3
"""The stratified photo split of Sources/WrenPhotos/PhotoSplit.swift, written again in Python from its
documentation, for the pinned values in Tests/WrenPhotosTests/PhotoFolderTests.swift.

    python3 tools/photo_split_reference.py 13,15,17,10 0.7 0
prints the [test] indices for classes of 13, 15, 17 and 10 usable photos (fixtures/photos: blue
square, circle, triangle, étoile), fraction 0.7, seed 0. Python 3.11, standard library only.
"""
import math
import sys

MASK = (1 << 64) - 1


class SplitMix64:
    def __init__(self, seed):
        self.state = seed

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)


def train_count(count, fraction):
    if fraction >= 1 or count <= 1:
        return count
    return min(max(math.floor(count * fraction + 0.5), 1), count - 1)


def stratified(counts, fraction, seed):
    generator = SplitMix64(seed)
    train, test, start = [], [], 0
    for count in counts:
        indices = list(range(start, start + count))
        start += count
        for i in range(count - 1, 0, -1):
            j = generator.next() % (i + 1)
            indices[i], indices[j] = indices[j], indices[i]
        kept = train_count(count, fraction)
        train += indices[:kept]
        test += indices[kept:]
    return sorted(train), sorted(test)


if __name__ == "__main__":
    counts = [int(c) for c in sys.argv[1].split(",")]
    print(stratified(counts, float(sys.argv[2]), int(sys.argv[3]))[1])
