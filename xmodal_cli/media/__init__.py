"""Decoders: bytes on disk to arrays and passages. No model code lives here."""

from __future__ import annotations


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
