"""Benchmark results kept as files, with the machine that measured them: ``benchmarks/results/<name>.json``.

Each script prints its figures and its last line is one JSON object; :func:`record` also writes that object
here, with the date, the command line and the machine (CPU model and cores, GPU, torch), so figures quoted in
the README can be traced to a run and compared only between runs of the same machine. ``$MAGICPOSE_BENCH_RESULTS``
names another folder (the tests' smoke runs write there, not over the kept results).
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import sys
from pathlib import Path

from magicpose.files import write_text_atomic

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict:
    """The CPU model and the cores this process may use, the GPU if any, torch's version and threads."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "cpu": cpu,
        "cores": cores,
        "gpu": gpu,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
    }


def record(name: str, result: dict) -> Path:
    """Write ``result`` as ``benchmarks/results/<name>.json`` (replacing the previous run's) and return the path."""
    folder = Path(os.environ.get("MAGICPOSE_BENCH_RESULTS") or RESULTS)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    payload = {
        "benchmark": name,
        "date": datetime.date.today().isoformat(),
        "machine": machine(),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "result": result,
    }
    return write_text_atomic(path, json.dumps(payload, indent=2) + "\n")
