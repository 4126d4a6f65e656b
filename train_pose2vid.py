"""Everybody Dance Now pose2vid training:
`python train_pose2vid.py --config CONFIG [--resume latest] [key=value ...]`.

The global stage (configs/pose2vid_global.yaml), then the local stage started from it
(configs/pose2vid_local.yaml). Also runs under `torchrun --nproc_per_node N train_pose2vid.py ...` and
`accelerate launch train_pose2vid.py ...`; `magicpose train-pose2vid ...` is the same command.
"""

import sys

from magicpose.commands.train_pose2vid import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
