"""xmodal: search your own photos and notes by meaning, offline."""

__version__ = "0.1.0"
