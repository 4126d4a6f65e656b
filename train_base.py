"""Stage 0, demo only: train a small VAE and base UNet standing in for SD 1.5.

`python train_base.py --config configs/demo_base.yaml data_root=DATA output_dir=OUT`
"""

import sys

from magicpose.commands.train_base import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
