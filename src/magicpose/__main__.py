"""``python -m magicpose``: the ``magicpose`` command, as launchers start it on each process (``torchrun -m
magicpose infer-dataset ...``, ``accelerate launch -m magicpose infer-dataset ...``)."""

import sys

from magicpose.cli import main

if __name__ == "__main__":
    sys.exit(main())
