"""The test suite, a package so that shared builders import as ``tests.builders`` from any working directory.

Bytecode caching is on for the suite, as for an installed product (a shell may set ``PYTHONDONTWRITEBYTECODE``):
the many tests that run a command in a fresh interpreter would otherwise each compile the project's modules again,
about a sixth of the suite's time. Set here, before any test module or the project is imported, for this process
and every process the tests start.
"""

import os
import sys

sys.dont_write_bytecode = False
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
