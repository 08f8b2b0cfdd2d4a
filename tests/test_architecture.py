"""The layers of docs/architecture.md, checked on the source: who may import whom, and no circles.

discovery (the science) <- agents (who acts) <- flows (Prefect wiring); db is used by agents
and flows, never by discovery; the CLI and the intake app are shells nothing imports;
vitrify.settings and vitrify.errors are the bottom, importing nothing of the project.
Imports inside functions count too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("discovery", "agents", "flows", "db", "vitrify")
BOTTOM = {"vitrify", "vitrify.settings", "vitrify.errors"}
SHELLS = ("vitrify.cli", "vitrify.intake")


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in (REPO / pkg).rglob("*.py"):
            rel = path.relative_to(REPO)
            if "migrations" in rel.parts or "data" in rel.parts:
                continue
            name = ".".join(rel.with_suffix("").parts)
            out[name.removesuffix(".__init__")] = path
    return out


def _imports(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Project modules each module imports (a package's __init__ only when it is imported itself)."""
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                subs = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in modules]
                targets.update(subs)
                if len(subs) < len(node.names):  # some names are attributes of ``base`` itself
                    targets.add(base)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


GRAPH = _imports(_modules())


def _layer(module: str) -> str:
    if module in BOTTOM:
        return "bottom"
    if module.startswith(SHELLS) or module.startswith("vitrify."):
        return "shell"
    return module.split(".")[0]


ALLOWED = {
    "bottom": {"bottom"},
    "discovery": {"bottom", "discovery"},
    "db": {"bottom", "discovery", "db"},
    "agents": {"bottom", "discovery", "db", "agents"},
    "flows": {"bottom", "discovery", "db", "agents", "flows"},
    "shell": {"bottom", "discovery", "db", "agents", "flows", "shell"},
}


def test_every_import_points_down_the_layers():
    wrong = sorted(f"{m} -> {t}" for m, ts in GRAPH.items() for t in ts if _layer(t) not in ALLOWED[_layer(m)])
    assert wrong == []


def test_the_bottom_modules_import_nothing_of_the_project():
    assert {m: sorted(GRAPH[m]) for m in BOTTOM if GRAPH.get(m)} == {}


def test_the_science_imports_no_infrastructure():
    infra = ("prefect", "ray", "sqlmodel", "sqlalchemy", "fastapi", "typer")
    offenders = []
    for name, path in _modules().items():
        if not name.startswith("discovery"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            offenders += [f"{name}: {m}" for m in mods if m.split(".")[0] in infra]
    assert offenders == []


def test_no_import_circles():
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(GRAPH.get(v, ())):
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
                circles.append(sorted(component))

    for module in sorted(GRAPH):
        if module not in index:
            visit(module)
    assert circles == []


def test_the_named_interfaces_are_met(modulus_model):
    """The campaign relies on these protocols, not on classes or string switches."""
    from agents.proposer import CampaignCorrectedModel
    from agents.simulation.worker import SimulationRunner
    from agents.workers import Worker
    from discovery.composition import CompositionMatrix
    from discovery.models import GlassFormingModel
    from discovery.protocols import GlassFormingLearner, GlassFormingScorer, PropertyPredictor

    model = GlassFormingModel()
    assert isinstance(model, GlassFormingLearner)
    assert "et_members" in model.get_params(deep=True) and set(model.get_params(deep=False)) <= set(model.get_params())
    corrected = CampaignCorrectedModel(model, CompositionMatrix.from_formulas(["Cu50Zr50"]), [1])
    assert isinstance(corrected, GlassFormingScorer) and not isinstance(corrected, GlassFormingLearner)
    assert isinstance(modulus_model[0], PropertyPredictor)  # (model, its data)
    assert isinstance(SimulationRunner(cores=1), Worker)
