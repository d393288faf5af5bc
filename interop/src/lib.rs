//! Interoperability tests only: see `tests/`.
