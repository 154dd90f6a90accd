"""``python -m losskit`` and the ``losskit`` console script: runs the command-line
tool installed inside the package (next to liblosskit)."""

import os
import pathlib
import sys


def main() -> None:
    tool = pathlib.Path(__file__).resolve().parent / "losskit"
    if not tool.exists():
        sys.exit("losskit: the command-line tool is not installed with this package "
                 "(build it with CMake: build/tools/losskit/losskit)")
    os.execv(str(tool), [str(tool)] + sys.argv[1:])


if __name__ == "__main__":
    main()
