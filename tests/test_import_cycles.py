"""No import cycle between the box's modules, nor between the packages of one parent.

A cycle means neither side can be understood, tested or moved without the other (as
receive/handler.py and receive/receiver.py were, for ten members of `Receiver`: the handler now
names what it needs in the `AssociationHost` Protocol). import-linter checks the layers; this
checks what the layers leave open, inside one package. Imports under `TYPE_CHECKING` count.
"""

from __future__ import annotations

import grimp
import pytest


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("magickbox")


def module_cycles(graph: grimp.ImportGraph) -> list[str]:
    """Each direct import whose target leads back to the importer."""
    return [
        f"{importer} -> {imported} -> ... -> {importer}"
        for importer in sorted(graph.modules)
        for imported in sorted(graph.find_modules_directly_imported_by(importer))
        if graph.chain_exists(importer=imported, imported=importer)
    ]


def package_cycles(graph: grimp.ImportGraph) -> list[str]:
    """Each pair of children of one package (modules or subpackages) that lead to each other."""
    cycles = []
    for parent in sorted(graph.modules):
        children = sorted(graph.find_children(parent))
        for index, first in enumerate(children):
            for second in children[index + 1 :]:
                there = graph.chain_exists(importer=first, imported=second, as_packages=True)
                if there and graph.chain_exists(importer=second, imported=first, as_packages=True):
                    cycles.append(f"{first} <-> {second}")
    return cycles


def test_no_module_imports_one_that_imports_it_back(graph: grimp.ImportGraph) -> None:
    assert len(graph.modules) > 100, "the graph must hold the whole package"
    assert module_cycles(graph) == []


def test_no_two_sibling_packages_import_each_other(graph: grimp.ImportGraph) -> None:
    assert package_cycles(graph) == []


def test_the_checks_see_a_cycle() -> None:
    """With the handler's old import of the receiver added back, both checks report it: an empty
    result above is not a blind check."""
    graph = grimp.build_graph("magickbox")
    graph.add_import(importer="magickbox.receive.handler", imported="magickbox.receive.receiver")
    assert "magickbox.receive.handler -> magickbox.receive.receiver -> ... -> magickbox.receive.handler" in (
        module_cycles(graph)
    )
    assert package_cycles(graph) == ["magickbox.receive.handler <-> magickbox.receive.receiver"]
