"""The command-line interface: a thin layer that parses options, calls the library and renders the result."""

from screener.cli.app import cli, main

__all__ = ["cli", "main"]
