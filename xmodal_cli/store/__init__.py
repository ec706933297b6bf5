"""Persistence: the SQLite catalog (source of truth) and FAISS files derived from it."""
