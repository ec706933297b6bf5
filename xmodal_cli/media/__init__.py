"""Decoders: bytes on disk to arrays and passages. No model code lives here."""

from __future__ import annotations


class DecodeError(Exception):
    """A file could not be decoded; the message is the one-line skip reason."""
