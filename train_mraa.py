"""MRAA training: `python train_mraa.py --config CONFIG [--mode train|train_avd] [--resume latest] [key=value ...]`.

Also runs under `torchrun --nproc_per_node N train_mraa.py ...` and `accelerate launch train_mraa.py ...`;
`magicpose train-mraa ...` is the same command.
"""

import sys

from magicpose.commands.train_mraa import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
