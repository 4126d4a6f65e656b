"""vid2vid pose2body training: `python train_vid2vid.py --config CONFIG [--resume latest] [key=value ...]`.

Also runs under `torchrun --nproc_per_node N train_vid2vid.py ...` and `accelerate launch train_vid2vid.py ...`;
`magicpose train-vid2vid ...` is the same command.
"""

import sys

from magicpose.commands.train_vid2vid import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
