"""xmodal: search your own photos, recordings and notes by meaning, offline.

The Python API is one function, `open_collection`, imported lazily so that `xmodal --help`
stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from xmodal_cli.collection import Collection, open_collection

__version__ = "0.1.0"
__all__ = ["Collection", "__version__", "open_collection"]


def __getattr__(name: str) -> Any:
    if name in ("open_collection", "Collection"):
        from xmodal_cli import collection

        return getattr(collection, name)
    raise AttributeError(f"module 'xmodal_cli' has no attribute {name!r}")
