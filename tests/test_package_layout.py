"""The package's shape, as the contributors' guide describes it: no import cycles, inference never imports
training, one module per subcommand registered in ``cli.py``, the page never imports the command line, and
the infer job's defaults written once (the CLI's flags and the page's form both give ``InferOptions()``)."""

import argparse
import ast
from pathlib import Path

import pytest

from magicpose.commands import COMMANDS, command_module

SRC = Path(__file__).resolve().parents[1] / "src"


def _module_name(path: Path) -> str:
    name = ".".join(path.relative_to(SRC).with_suffix("").parts)
    return name.removesuffix(".__init__")


def _import_graph() -> dict[str, set[str]]:
    """Module -> the magicpose modules it imports anywhere in its source (function-level imports included)."""
    modules = {_module_name(p): p for p in (SRC / "magicpose").rglob("*.py")}
    graph = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            else:
                continue
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for w in graph[todo.pop()] - seen:
            seen.add(w)
            todo.append(w)
    return seen


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_itself_back_through_others():
    assert _cycles(_import_graph()) == []


@pytest.mark.parametrize(
    "entry",
    [
        "magicpose.infer",
        "magicpose.commands.infer",
        "magicpose.commands.infer_dataset",
        "magicpose.ui.jobs",
        "magicpose.ui.app",
        "magicpose.weights",
        "magicpose.pipelines.pipeline_pose2vid",
    ],
)
def test_inference_never_imports_training(entry):
    reached = _reachable(_import_graph(), entry)
    assert not sorted(m for m in reached if m.startswith("magicpose.training"))


def test_the_page_never_imports_the_command_line():
    graph = _import_graph()
    for module in (m for m in graph if m.startswith("magicpose.ui")):
        assert not {
            m for m in _reachable(graph, module) if m == "magicpose.cli" or m.startswith("magicpose.commands")
        }


def test_every_subcommand_is_one_module_with_a_parser_and_a_runner():
    from magicpose.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert list(sub.choices) == list(COMMANDS)
    for name in COMMANDS:
        module = command_module(name)
        assert module.__name__ == f"magicpose.commands.{name.replace('-', '_')}"
        assert sub.choices[name].get_default("run") is module.run
    # cli.py is the registry only: no runner of its own
    assert not [f for f in vars(__import__("magicpose.cli").cli) if f.startswith("run")]


def test_infer_defaults_are_written_once():
    """The CLI's flags and the page's empty form both give exactly ``InferOptions()`` (the output aside)."""
    import dataclasses

    from magicpose.cli import build_parser
    from magicpose.commands.ui import ui_config
    from magicpose.infer import DEFAULT_IMAGE, InferOptions
    from magicpose.ui.jobs import JobForm, UIConfig, infer_options
    from magicpose.ui.uploads import DrivingSource

    assert InferOptions.from_namespace(build_parser().parse_args(["infer"])) == InferOptions()
    page = infer_options(JobForm(reference=str(DEFAULT_IMAGE)), UIConfig(), Path("out.mp4"), DrivingSource())
    assert page == dataclasses.replace(InferOptions(), output="out.mp4")
    # and infer-dataset's sampling flags are the same defaults
    dataset = build_parser().parse_args(["infer-dataset", "--root", "r", "--output", "o"])
    sampling = (
        "steps",
        "guidance_scale",
        "seed",
        "height",
        "width",
        "frames_per_batch",
        "appearance_timestep",
        "device",
        "dtype",
        "fps",
        "weights",
    )
    assert {k: getattr(dataset, k) for k in sampling} == {k: getattr(InferOptions(), k) for k in sampling}
    # and `magicpose ui`'s flags (one per field of UIConfig) are the page's own defaults
    assert ui_config(build_parser().parse_args(["ui"])) == UIConfig()


def test_the_infer_job_does_not_change_its_options(tmp_path):
    """Defaults are resolved by properties, not written back into the options (they are frozen)."""
    import dataclasses

    from magicpose.infer import DEFAULT_POSE2VID_WEIGHTS, DEFAULT_POSES, DEFAULT_WEIGHTS, InferOptions

    options = InferOptions()
    assert options.weights_folder == str(DEFAULT_WEIGHTS) and options.pose_source == str(DEFAULT_POSES)
    assert InferOptions(generator="pose2vid").weights_folder == str(DEFAULT_POSE2VID_WEIGHTS)
    assert InferOptions(driving_video="v.mp4").pose_source is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.weights = "elsewhere"
