"""Stage 2, appearance-disentangled pose control: `python train_pose_control.py --config CONFIG [key=value ...]`.

Also runs under `torchrun --nproc_per_node N train_pose_control.py ...` and `accelerate launch train_pose_control.py ...`.
"""

import sys

from magicpose.commands.train import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], stage="pose_control"))
