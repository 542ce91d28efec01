"""The package's version: always the crate's (Cargo.toml); ``_lib`` checks the library's."""

__version__ = "0.3.0"
