"""The import graph of ``bot/`` is one-way: no cycles, and no module imports a higher layer.

The layers, lowest first (the README's architecture section draws them):

    base      bot.domain, bot.config, bot.i18n, bot.callbacks, bot.tghtml, bot.privacy,
              bot.log_policy, bot.text_input: the vocabulary and helpers every layer may use
    storage   bot.storage: connections, tables, rows and SQL
    services  bot.services: the rules of cases, staff and statistics   } siblings: neither
    content   bot.content: load, check and render the guide's screens  } imports the other
    chat      bot.chat: the relative's conversation and contact flow
    doors     bot.telegram, bot.web, and the development emulator bot.emulator (siblings)
    runtime   bot.runtime: builds the object graph once
    commands  bot.__main__, bot.cli_*, bot.bench: what a person runs

Every import counts, also one inside a function or under ``TYPE_CHECKING``: a deferred
import is still a dependency. The graph is read from the source with ``ast``, so the test
sees exactly what the files say.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "bot"

# (layer name, rank, module prefixes). Same rank = siblings, which may not import each other.
LAYERS: list[tuple[str, int, tuple[str, ...]]] = [
    (
        "base",
        0,
        (
            "bot.domain",
            "bot.config",
            "bot.i18n",
            "bot.callbacks",
            "bot.tghtml",
            "bot.privacy",
            "bot.log_policy",
            "bot.text_input",
        ),
    ),
    ("storage", 1, ("bot.storage",)),
    ("services", 2, ("bot.services",)),
    ("content", 2, ("bot.content",)),
    ("chat", 3, ("bot.chat",)),
    ("telegram", 4, ("bot.telegram",)),
    ("web", 4, ("bot.web",)),
    ("emulator", 4, ("bot.emulator",)),
    ("runtime", 5, ("bot.runtime",)),
    ("commands", 6, ("bot.__main__", "bot.cli_", "bot.bench")),
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules ``path`` imports, resolved to the deepest existing module."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            # ``from bot.web import staff`` imports the module bot.web.staff.
            targets = [
                f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target.startswith("bot") and target != name:
                found.add(target)
    return found


def graph() -> dict[str, set[str]]:
    modules = all_modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def _within(module: str, prefix: str) -> bool:
    """``bot.cli_`` is a name prefix (bot.cli_staff, bot.cli_stats); the rest are packages."""
    if prefix.endswith("_"):
        return module.startswith(prefix)
    return module == prefix or module.startswith(prefix + ".")


def layer_of(module: str) -> tuple[str, int] | None:
    for layer, rank, prefixes in LAYERS:
        if any(_within(module, prefix) for prefix in prefixes):
            return layer, rank
    return None


def test_every_module_has_a_layer() -> None:
    homeless = sorted(m for m in graph() if m != "bot" and layer_of(m) is None)
    assert homeless == [], (
        "modules outside every layer (add them to LAYERS and the README):",
        homeless,
    )


def test_no_import_goes_up_or_sideways() -> None:
    wrong = []
    for module, targets in graph().items():
        here = layer_of(module)
        if here is None:
            continue
        for target in targets:
            there = layer_of(target)
            if there is None or there[0] == here[0]:
                continue
            if there[1] >= here[1]:
                wrong.append(f"{module} ({here[0]}) imports {target} ({there[0]})")
    assert wrong == [], "\n".join(sorted(wrong))


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_no_import_cycles() -> None:
    edges = {m: {t for t in ts if t != "bot"} for m, ts in graph().items()}
    cycle = find_cycle(edges)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_only_the_preview_imports_the_emulator() -> None:
    allowed = ("bot.emulator", "bot.runtime", "bot.__main__", "bot.bench")
    wrong = sorted(
        f"{m} imports {t}"
        for m, ts in graph().items()
        for t in ts
        if t.startswith("bot.emulator") and not m.startswith(allowed)
    )
    assert wrong == [], wrong


@pytest.mark.parametrize(
    ("edges", "expected"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
        ({"a": {"b"}, "b": {"c"}, "c": set()}, None),
    ],
)
def test_the_cycle_finder_finds_cycles(
    edges: dict[str, set[str]], expected: list[str] | None
) -> None:
    assert find_cycle(edges) == expected


def test_the_layer_check_sees_an_upward_import(tmp_path: Path) -> None:
    """The check reads ``from … import``, relative imports and function-level imports."""
    modules = {"bot.domain": tmp_path / "d.py", "bot.web.app": tmp_path / "w.py"}
    source = tmp_path / "d.py"
    source.write_text("def f():\n    from bot.web import app\n", encoding="utf-8")
    assert imports_of("bot.domain", source, modules) == {"bot.web.app"}
    low, high = layer_of("bot.domain"), layer_of("bot.web.app")
    assert low is not None and high is not None and low[1] < high[1]
