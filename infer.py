"""Animate a reference image with a pose sequence: `python infer.py --help`.

With no arguments it runs on the embedded example (example_data/) and demo weights
(pretrained_weights/demo/) and writes outputs/demo.mp4, its frames and a preview.
"""

import sys

from magicpose.cli import main

if __name__ == "__main__":
    sys.exit(main(["infer", *sys.argv[1:]]))
