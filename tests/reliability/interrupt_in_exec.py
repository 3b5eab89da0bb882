"""``python -m tests.reliability.interrupt_in_exec --db DB score ...``: the real ``screener`` command line under
``-m``, with the Ctrl-C landing while code from an ``exec`` of a string runs (as it does when it lands while a
library such as scipy is being imported), after the score set was committed."""

from __future__ import annotations

import sys


def main() -> None:
    import screener.output.render as render_module
    from screener.cli.app import main as screener_main

    def interrupted(*_args: object, **_kwargs: object) -> None:
        exec("raise KeyboardInterrupt")

    render_module.render = interrupted  # type: ignore[assignment]
    sys.argv = ["screener", *sys.argv[1:]]
    screener_main()


if __name__ == "__main__":
    main()
