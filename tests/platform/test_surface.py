"""`Local` and `Client` implement `Platform` verb for verb: the same areas, method names, parameters (names,
kinds, defaults) and types, so a script or the CLI written against one runs against the other. Type checking
holds them to it too: `cli/context.platform()` returns each of them as a `Platform`."""

from __future__ import annotations

import ast
import inspect
import itertools
import sys
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from modelplane.client import Client
from modelplane.local import Local
from modelplane.platform import Platform

# What only a transport has: the server's address, and the resumable upload a remote dataset source needs.
TRANSPORT_ONLY = {"Client": {"url"}, "Client.datasets": {"upload"}}


@pytest.fixture
def implementations(tmp_path: Path) -> Iterator[list[Any]]:
    local, client = Local(tmp_path / "home"), Client("http://127.0.0.1:9")  # the client connects lazily
    yield [local, client]
    local.close()
    client.close()


def _public(cls: type) -> dict[str, Any]:
    """Methods and properties a user may call, inherited ones included."""
    return {
        name: member
        for name, member in inspect.getmembers(cls)
        if not name.startswith("_") and (inspect.isfunction(member) or isinstance(member, property))
    }


def _type_checking_imports(module_name: str) -> dict[str, Any]:
    """The names `module_name` imports under `if TYPE_CHECKING:`, so annotations naming them resolve."""
    module = sys.modules[module_name]
    names: dict[str, Any] = {}
    for node in ast.parse(inspect.getsource(module)).body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            exec(compile(ast.Module(body=node.body, type_ignores=[]), module_name, "exec"), names)
    return names


def _signature(function: Callable[..., Any]) -> list[tuple[str, str, Any, Any]]:
    """(name, kind, default, resolved type) of every parameter, the return type last."""
    namespace = {**function.__globals__, **_type_checking_imports(function.__module__)}
    hints = typing.get_type_hints(function, globalns=namespace)
    described = [
        (p.name, p.kind.name, p.default, hints.get(p.name))
        for p in inspect.signature(function).parameters.values()
    ]
    return [*described, ("return", "", None, hints.get("return"))]


def _areas() -> dict[str, type]:
    """Platform's areas (its properties) and the protocol each must meet."""
    return {
        name: typing.get_type_hints(member.fget)["return"]
        for name, member in _public(Platform).items()
        if isinstance(member, property)
    }


def _compare(contract: type, implementation: type, where: str) -> list[str]:
    """What differs between a protocol's methods and an implementation's (`where`: e.g. Client.runs), one
    line per difference."""
    wanted = {n: m for n, m in _public(contract).items() if inspect.isfunction(m)}
    found = _public(implementation)
    extra = set(found) - set(wanted) - TRANSPORT_ONLY.get(where, set())
    problems = [f"{where}.{name} is missing" for name in sorted(set(wanted) - set(found))]
    problems += [f"{where}.{name} is not in Platform" for name in sorted(extra)]
    for name in sorted(set(wanted) & set(found)):
        if not inspect.isfunction(found[name]):
            problems.append(f"{where}.{name} is not a method")
            continue
        theirs, ours = _signature(found[name]), _signature(wanted[name])
        problems += [
            f"{where}.{name}: {mine} where Platform has {contract_has}"
            for mine, contract_has in itertools.zip_longest(theirs, ours)
            if mine != contract_has
        ]
    return problems


def test_every_area_has_the_same_verbs_and_signatures(implementations: list[Any]) -> None:
    areas = _areas()
    assert len(areas) >= 12  # datasets ... events: a contract that lost its areas would compare nothing
    problems = []
    for implementation in implementations:
        for name, contract in areas.items():
            where = f"{type(implementation).__name__}.{name}"
            problems += _compare(contract, type(getattr(implementation, name)), where)
    assert not problems, "\n".join(problems)


def test_top_level_verbs_have_the_same_signatures(implementations: list[Any]) -> None:
    verbs = [n for n, m in _public(Platform).items() if inspect.isfunction(m)]
    assert {"train", "tune", "predict", "batch", "close"} <= set(verbs)
    problems = []
    for implementation in implementations:
        problems += _compare(Platform, type(implementation), type(implementation).__name__)
    assert not problems, "\n".join(problems)


def test_a_drifted_implementation_is_caught() -> None:
    """The comparison itself: a renamed parameter, a changed default, a new verb and a different return type
    each show up."""

    class Drifted:
        def list(self, *, limit: int = 20, model: str | None = None) -> list[Any]:
            return []

        def get(self, id: str) -> Any:
            return None

        def purge(self) -> None:
            return None

        def delete(self, run_id: str) -> None:
            return None

    problems = _compare(_areas()["runs"], Drifted, "Drifted.runs")
    assert [p.partition(" where")[0] for p in problems] == [
        "Drifted.runs.start is missing",
        "Drifted.runs.purge is not in Platform",
        "Drifted.runs.get: ('id', 'POSITIONAL_OR_KEYWORD', <class 'inspect._empty'>, <class 'str'>)",
        "Drifted.runs.get: ('return', '', None, typing.Any)",
        "Drifted.runs.list: ('limit', 'KEYWORD_ONLY', 20, <class 'int'>)",
        "Drifted.runs.list: ('return', '', None, list[typing.Any])",
    ]
