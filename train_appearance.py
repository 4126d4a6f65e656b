"""Stage 1, appearance control pretraining: `python train_appearance.py --config CONFIG [key=value ...]`.

Also runs under `torchrun --nproc_per_node N train_appearance.py ...` and `accelerate launch train_appearance.py ...`.
"""

import sys

from magicpose.commands.train import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], stage="appearance"))
