"""Quarry: vector search for collections larger than memory.

    import quarry
    index = quarry.build(xb, "idx", partitions=256)    # numpy array or a file path
    D, I = index.search(xq, 10, nprobe=16)             # (nq, k) float32 / int64

See python/README.md; every function and method is documented in ``_quarry.pyi``.
"""

from ._errors import CorruptIndexError, QuarryError, QuarryValueError
from ._quarry import (
    Index,
    SearchStats,
    __version__,
    build,
    exact_search,
    kernels,
    read_ground_truth,
    read_vectors,
    sift10k,
    verify,
)

__all__ = [
    "CorruptIndexError",
    "Index",
    "QuarryError",
    "QuarryValueError",
    "SearchStats",
    "__version__",
    "build",
    "exact_search",
    "kernels",
    "read_ground_truth",
    "read_vectors",
    "sift10k",
    "verify",
]
