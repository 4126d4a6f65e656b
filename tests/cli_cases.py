"""Command lines the CLI tests share: the tiny-run flags, argv builders, the single-error-line check, and how a
script is started in a fresh process.

Nothing here starts a process itself: tests/conftest.py marks a test ``slow`` by finding ``subprocess.run(`` in the
test module's own code, so callers keep that call and take its keyword arguments from ``script_run``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEMO_WEIGHTS = REPO / "pretrained_weights" / "demo"


def tiny_run(steps: int = 2) -> list[str]:
    """Flags of a seconds-long generation on the CPU: ``steps`` steps, 32x32, float32."""
    return ["--steps", str(steps), "--height", "32", "--width", "32", "--device", "cpu", "--dtype", "float32"]


def infer_dataset_argv(root: Path, output: Path, *flags: str) -> list[str]:
    return ["infer-dataset", "--root", str(root), "--output", str(output), *flags]


def convert_argv(mode: str, checkpoint: Path, out: Path | str, *flags: str) -> list[str]:
    return ["convert", mode, str(checkpoint), str(out), *flags]


def refused_in_one_line(capsys, argv: list[str], out: Path) -> str:
    """``magicpose ARGV`` exits 2 with exactly one ``error:`` line and no traceback, and leaves nothing named like
    ``out`` (no output, no temporary sibling); returns that line."""
    from magicpose.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert not out.parent.exists() or not any(p.name.startswith(out.name) for p in out.parent.iterdir())
    return lines[0]


def bash_script(name: str, *args: str) -> list[str]:
    """The command that runs the checkout's ``scripts/NAME`` with ``args``."""
    return ["bash", str(REPO / "scripts" / name), *args]


def script_run(cwd: Path, timeout: float = 300, **env: str) -> dict:
    """Keyword arguments of ``subprocess.run`` for a command or script run as a user runs it from ``cwd``: this
    interpreter first on PATH (the scripts' ``python``), one thread, output captured as text; ``env`` adds to
    the environment."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return dict(
        cwd=cwd,
        env={**os.environ, "OMP_NUM_THREADS": "1", **env, "PATH": path},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
