"""Reader for the IDX file format used by MNIST and Fashion-MNIST.

Format (LeCun et al., http://yann.lecun.com/exdb/mnist/): a 4-byte magic number
``0x00 0x00 <dtype code> <ndim>``, then ``ndim`` big-endian uint32 dimension sizes,
then the array in C order, big-endian. Files may be gzip-compressed; compression is
detected from the gzip magic bytes ``1f 8b`` rather than the file name, so a
decompressed file that kept its ``.gz`` name (or the reverse) still reads.
"""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

# IDX type codes -> big-endian numpy dtypes.
_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


class IdxFormatError(ValueError):
    """An IDX file is truncated, corrupt or not an IDX file at all."""


def _read_bytes(path: Path) -> bytes:
    raw = path.read_bytes()
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as err:
        # EOFError: compressed stream cut short (partial download); OSError/zlib.error: bad data/CRC.
        raise IdxFormatError(
            f"{path}: gzip data is truncated or corrupt ({err}); delete the file and obtain it again"
        ) from err


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Parse an uncompressed IDX byte string into an array of shape ``dims`` (native byte order).

    ``name`` only labels error messages. Raises ``IdxFormatError`` on a bad magic number,
    an unknown type code, or a data section shorter or longer than the header promises.
    """
    if len(data) < 4:
        raise IdxFormatError(f"{name}: file is {len(data)} bytes, too short for an IDX header")
    if data[0] != 0 or data[1] != 0:
        raise IdxFormatError(
            f"{name}: bad IDX magic number {data[:4].hex()} (expected 0000<type><ndim>); "
            "this is not an IDX file"
        )
    code, ndim = data[2], data[3]
    if code not in _DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in _DTYPES)
        raise IdxFormatError(f"{name}: unknown IDX data type code 0x{code:02X} (known: {known})")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise IdxFormatError(
            f"{name}: truncated header ({len(data)} bytes, need {header_len} for {ndim} dims)"
        )
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = _DTYPES[code]
    expected = math.prod(dims) * dtype.itemsize
    found = len(data) - header_len
    if found < expected:
        raise IdxFormatError(
            f"{name}: truncated IDX file: header declares shape {dims} ({expected} data bytes) "
            f"but only {found} bytes follow; the file is incomplete, obtain it again"
        )
    if found > expected:
        raise IdxFormatError(
            f"{name}: corrupt IDX file: {found - expected} unexpected bytes after the {dims} array"
        )
    array = np.frombuffer(data, dtype=dtype, count=math.prod(dims), offset=header_len).reshape(dims)
    return array.astype(dtype.newbyteorder("="), copy=True)


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (raw or gzip-compressed) into a native-endian, writable numpy array."""
    path = Path(path)
    return parse_idx(_read_bytes(path), name=str(path))


def write_idx(path: str | Path, array: np.ndarray, compress: bool | None = None) -> None:
    """Write ``array`` as an IDX file; gzip it when ``compress`` (default: name ends in ``.gz``).

    The inverse of ``read_idx``; used to build small test fixtures and to export subsets.
    """
    path = Path(path)
    array = np.asarray(array)
    codes = {dt.newbyteorder("="): c for c, dt in _DTYPES.items()}
    dtype = array.dtype.newbyteorder("=")
    if dtype not in codes:
        raise ValueError(f"write_idx: dtype {array.dtype} has no IDX type code; use one of {list(codes)}")
    if array.ndim > 255:
        raise ValueError(f"write_idx: IDX supports at most 255 dims, got {array.ndim}")
    header = bytes([0, 0, codes[dtype], array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape
    )
    payload = header + np.ascontiguousarray(array, dtype=_DTYPES[codes[dtype]]).tobytes()
    if compress if compress is not None else path.suffix == ".gz":
        payload = gzip.compress(payload, compresslevel=6)
    path.write_bytes(payload)
