"""The layers of ARCHITECTURE.md, checked on the source: imports flow one way.

pages/state/api_routes → services → stripe_gateway/db/models; the emulator (`stripe_emulator`)
and the development tools (`devtools`) sit beside the product, never under it. Each rule
reads every module's imports with `ast` (imports under `if TYPE_CHECKING:` count too), so a
forbidden import fails here before it can ship.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PRODUCT = ("billstack", "api_routes")
MAX_LINES = 500
# The one part of the product allowed to load development tools: the CLI's `emulator` and
# `demo` commands, which import them inside the command (so `billstack serve` never does).
DEV_COMMANDS = "billstack/cli/dev.py"


@dataclass(frozen=True)
class Import:
    module: str  # the imported module (for `from x import y`: `x`, and `x.y` as a candidate)
    line: int
    in_function: bool


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def python_files(*packages: str) -> list[Path]:
    return sorted(p for package in packages for p in (REPO / package).rglob("*.py"))


def _resolve(path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package.pop()
    package = package[: len(package) - (node.level - 1)]
    return ".".join(package + ([node.module] if node.module else []))


def imports_of(path: Path) -> Iterator[Import]:
    tree = ast.parse(path.read_text(), filename=str(path))

    def visit(node: ast.AST, in_function: bool) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield Import(alias.name, child.lineno, in_function)
            elif isinstance(child, ast.ImportFrom):
                base = _resolve(path, child)
                yield Import(base, child.lineno, in_function)
                for alias in child.names:
                    yield Import(f"{base}.{alias.name}", child.lineno, in_function)
            yield from visit(child, inside)

    yield from visit(tree, False)


def is_under(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def violations(packages: tuple[str, ...], forbidden: tuple[str, ...], allowed_files: tuple[str, ...] = ()) -> list[str]:
    found = []
    for path in python_files(*packages):
        rel = path.relative_to(REPO).as_posix()
        if rel in allowed_files:
            continue
        for imp in imports_of(path):
            if any(is_under(imp.module, name) for name in forbidden):
                found.append(f"{rel}:{imp.line} imports {imp.module}")
    return sorted(set(found))


# --- the rules ----------------------------------------------------------------------------


def test_the_product_never_imports_the_emulator_or_dev_tools():
    assert violations(PRODUCT, ("stripe_emulator", "devtools", "tests", "bench"), (DEV_COMMANDS,)) == []


def test_dev_commands_load_the_dev_tools_only_when_they_run():
    """`billstack serve` imports the CLI package; the dev tools must not come with it."""
    path = REPO / DEV_COMMANDS
    assert path.exists(), f"{DEV_COMMANDS} holds the emulator/demo commands"
    eager = [
        f"{DEV_COMMANDS}:{imp.line} imports {imp.module} at module level"
        for imp in imports_of(path)
        if not imp.in_function and any(is_under(imp.module, p) for p in ("stripe_emulator", "devtools"))
    ]
    assert eager == []


# Besides the gateway package, only the seeders use Stripe's SDK: as a client of the emulator, to
# put demo and test data in it (tests and benchmarks do the same).
GATEWAY = sorted((REPO / "billstack" / "stripe_gateway").glob("*.py"))
STRIPE_SDK_USERS = (*(path.relative_to(REPO).as_posix() for path in GATEWAY), "stripe_emulator/seed.py",
                    "devtools/demo_tenant.py")


def test_only_the_gateway_talks_to_stripe():
    assert violations((*PRODUCT, "stripe_emulator", "devtools"), ("stripe",), STRIPE_SDK_USERS) == []


def test_routes_and_ui_state_never_touch_orm_rows():
    assert violations(("api_routes", "billstack/state", "billstack/pages", "billstack/components"),
                      ("billstack.models",)) == []


def test_services_know_nothing_of_http_or_the_ui():
    assert violations(("billstack/services",), ("api_routes", "billstack.state", "billstack.pages",
                                                "billstack.components", "billstack.cli", "fastapi",
                                                "starlette", "reflex")) == []


def test_the_lowest_layer_does_not_reach_up():
    lowest = [*GATEWAY, *(REPO / "billstack" / name for name in ("db.py", "models.py", "config.py"))]
    found = []
    for path in lowest:
        for imp in imports_of(path):
            if any(is_under(imp.module, up) for up in ("billstack.services", "billstack.state", "api_routes",
                                                       "billstack.cli", "billstack.pages")):
                found.append(f"{path.name}:{imp.line} imports {imp.module}")
    assert found == []


def test_the_emulator_imports_nothing_of_the_product():
    assert violations(("stripe_emulator",), ("billstack", "api_routes", "devtools", "tests", "bench")) == []


def test_the_emulator_has_no_import_inside_a_function():
    found = [
        f"{path.relative_to(REPO)}:{imp.line} imports {imp.module}"
        for path in python_files("stripe_emulator")
        for imp in imports_of(path)
        if imp.in_function
    ]
    assert sorted(set(found)) == []


def emulator_import_graph() -> dict[str, set[str]]:
    modules = {module_name(path): path for path in python_files("stripe_emulator")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for imp in imports_of(path):
            if imp.module in modules and imp.module != name and not name.startswith(imp.module + "."):
                # `from pkg import sub` names pkg too; a package's __init__ is not a dependency
                # of its own submodules' siblings unless they import a name from it.
                graph[name].add(imp.module)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in graph[node]:
            if succ not in index:
                connect(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


def test_cycle_finder_finds_a_cycle():
    """The checker itself can fail: a → b → c → a is one cycle; d hangs off it."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_emulators_modules_import_each_other_in_one_direction():
    graph = emulator_import_graph()
    assert len(graph) > 20, "the emulator's modules were found"
    assert cycles(graph) == []


@pytest.mark.parametrize("package", PRODUCT)
def test_no_module_in_the_product_is_over_500_lines(package: str):
    too_long = {
        path.relative_to(REPO).as_posix(): n
        for path in python_files(package)
        if "migrations" not in path.parts and (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert too_long == {}
