"""Decoders: bytes on disk to arrays and passages. No model code lives here."""

from __future__ import annotations

import os
import stat
from typing import BinaryIO


class DecodeError(Exception):
    """A file could not be decoded; the message is the one-line skip reason."""


def read_failure(exc: OSError) -> DecodeError:
    """The skip reason for an OS error met while reading a file."""
    if isinstance(exc, FileNotFoundError):
        return DecodeError("file vanished before it could be read")
    if isinstance(exc, PermissionError):
        return DecodeError("permission denied")
    if isinstance(exc, IsADirectoryError):
        return DecodeError("is a directory")
    return DecodeError(f"cannot read: {exc.strerror or exc}")


def open_regular(path: str) -> BinaryIO:
    """Open a regular file for binary reading; raise DecodeError for anything else."""
    # The scan skips FIFOs and devices, but a path can be swapped for one before it is
    # read: a plain open() of a FIFO blocks until a writer appears, i.e. for ever. With
    # O_NONBLOCK the open returns at once and fstat tells what it is; on a regular file
    # the flag changes nothing.
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise read_failure(exc) from None
    try:
        mode = os.fstat(fd).st_mode
    except OSError as exc:
        os.close(fd)
        raise read_failure(exc) from None
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise DecodeError("is a directory" if stat.S_ISDIR(mode) else "not a regular file")
    return os.fdopen(fd, "rb")
