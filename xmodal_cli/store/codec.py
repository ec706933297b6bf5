"""How a vector is stored in a catalog BLOB, and read back."""

from __future__ import annotations

import numpy as np

# Stored vectors are float16: half the bytes of float32, and cosine scores of unit vectors
# move by less than 1e-3 (tests/test_models.py checks rankings on real photos and notes).
VECTOR_DTYPE = np.float16
BYTES_PER_VALUE = np.dtype(VECTOR_DTYPE).itemsize


def to_blob(vector: np.ndarray) -> bytes:
    """One unit vector as the bytes the catalog stores."""
    return np.ascontiguousarray(vector, dtype=VECTOR_DTYPE).tobytes()


def matrix(blobs: list[bytes], dim: int) -> np.ndarray:
    """Stored BLOBs as one (n, dim) float32 matrix."""
    stored = np.frombuffer(b"".join(blobs), dtype=VECTOR_DTYPE).reshape(len(blobs), dim)
    return stored.astype(np.float32)


def float32_to_16(blob: bytes | None) -> bytes | None:
    """A float32 vector BLOB (schema < 2) as float16; anything unreadable is left for `check`."""
    if blob is None or len(blob) % 4:
        return blob
    return np.frombuffer(blob, dtype=np.float32).astype(np.float16).tobytes()
