import importlib.util
import shutil
import subprocess

import pytest

from magicpose.tiny_models import make_pipeline


def test_console_command_is_installed_and_lists_subcommands():
    exe = shutil.which("magicpose")
    assert exe is not None, "pip install -e . installs the `magicpose` command"
    out = subprocess.run([exe, "infer", "--help"], capture_output=True, text=True, check=True).stdout
    for flag in (
        "--image",
        "--poses",
        "--output",
        "--steps",
        "--guidance-scale",
        "--seed",
        "--weights",
        "--device",
        "--dtype",
        "--height",
        "--width",
    ):
        assert flag in out


@pytest.mark.skipif(importlib.util.find_spec("xformers") is not None, reason="xformers is installed")
def test_asking_for_xformers_without_it_names_the_extra_and_keeps_sdpa():
    pipe = make_pipeline("tiny")
    with pytest.raises(ImportError, match=r"magicpose\[xformers\]"):
        pipe.enable_xformers_memory_efficient_attention()
    kinds = {
        type(p).__name__ for unet in (pipe.unet, pipe.appearance_unet) for p in unet.attn_processors.values()
    }
    assert kinds == {"AttnProcessor2_0"}
