"""The test suite, a package so that shared builders import as ``tests.builders`` from any working directory."""
