"""This process's place among the processes a launcher started, for a job made of independent items (the videos
of ``magicpose infer-dataset``): which items are its own, which GPU it uses, how it names itself in printed
lines, and how it stops when the launcher stops it.

``torchrun`` and ``accelerate launch`` start one process per GPU on each node and tell each where it stands in
its environment: ``RANK`` (0 to ``WORLD_SIZE`` - 1 over all nodes), ``WORLD_SIZE`` and ``LOCAL_RANK`` (its
index on its own node, which picks its GPU). With ``WORLD_SIZE`` unset the process is alone, rank 0 of 1, and
nothing changes.

The ranks never talk to each other (no process group): each takes every ``WORLD_SIZE``-th item of the same
sorted list, starting at its ``RANK``, and writes only the outputs of those items. Every item seeds its own
random numbers, so N processes write exactly the files one process writes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from magicpose.errors import InputError

__all__ = ["Rank", "rank_from_environ", "sigterm_interrupts"]

T = TypeVar("T")
UNSET = (
    "unset them to run one process, or start the command with torchrun or accelerate launch, which set them"
)


@dataclass(frozen=True)
class Rank:
    """Where this process stands: ``rank`` of ``world_size`` in all, ``local_rank`` on its node."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def several(self) -> bool:
        """Whether other processes share the job."""
        return self.world_size > 1

    @property
    def prefix(self) -> str:
        """What this rank's printed lines start with: ``"rank 1/4: "``, or nothing when it is alone."""
        return f"rank {self.rank}/{self.world_size}: " if self.several else ""

    def shard(self, items: Sequence[T]) -> list[T]:
        """This rank's items: ``items[rank]``, ``items[rank + world_size]``, ... (none when there are fewer items
        than ranks). The shards of all ranks are disjoint and together are ``items``."""
        return list(items[self.rank :: self.world_size])

    def device(self, name: str | None) -> str | None:
        """The torch device of this rank for a ``--device`` flag already checked (``None``: cuda when present).
        Alone, ``name`` as it is. With several processes a plain ``cuda`` (given, or chosen by default) becomes
        ``cuda:LOCAL_RANK``, one GPU per process; ``cpu``, ``mps`` and an explicit ``cuda:N`` are kept (every
        rank then shares that device)."""
        if not self.several:
            return name
        import torch

        if name is None:
            name = "cuda" if torch.cuda.is_available() else "cpu"
        if name != "cuda":
            return name
        gpus = torch.cuda.device_count()
        if self.local_rank >= gpus:
            raise InputError(
                f"--device cuda: process LOCAL_RANK={self.local_rank} has no GPU of its own, this "
                f"machine has {gpus}: start at most {gpus} processes per node (torchrun "
                "--nproc_per_node, accelerate launch --num_processes), or pass --device cuda:N"
            )
        return f"cuda:{self.local_rank}"


def _int(env: Mapping[str, str], name: str) -> int:
    value = env.get(name)
    if value is None:
        raise InputError(f"WORLD_SIZE is {env['WORLD_SIZE']} but {name} is not set: {UNSET}")
    try:
        return int(value)
    except ValueError:
        raise InputError(f"environment variable {name}='{value}' is not a whole number: {UNSET}") from None


def rank_from_environ(env: Mapping[str, str] | None = None) -> Rank:
    """This process's :class:`Rank` from ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` (``os.environ`` by
    default); rank 0 of 1 when ``WORLD_SIZE`` is unset. Values that cannot come from a launcher are one line."""
    env = os.environ if env is None else env
    if env.get("WORLD_SIZE") is None:
        return Rank()
    world_size = _int(env, "WORLD_SIZE")
    if world_size < 1:
        raise InputError(f"environment variable WORLD_SIZE={world_size} must be at least 1: {UNSET}")
    rank, local_rank = _int(env, "RANK"), _int(env, "LOCAL_RANK")
    if not 0 <= rank < world_size:
        raise InputError(
            f"environment variable RANK={rank} must be from 0 to WORLD_SIZE - 1 = {world_size - 1}: {UNSET}"
        )
    if local_rank < 0:
        raise InputError(f"environment variable LOCAL_RANK={local_rank} must be at least 0: {UNSET}")
    return Rank(rank, world_size, local_rank)


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Within the block, SIGTERM raises ``KeyboardInterrupt`` as Ctrl+C does, so the block's clean-up runs (the
    temporaries of the output in progress, the folders made for it) instead of the process dying mid-write. When
    one rank fails, ``torchrun`` and ``accelerate launch`` stop the others with SIGTERM (SIGKILL 30 s later).
    Outside the main thread, where no handler can be set, the block runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
