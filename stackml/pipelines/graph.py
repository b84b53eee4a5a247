"""The DAG of a pipeline: nodes (step calls), the outputs that flow between them, checks.

A pipeline function is *traced*: while it runs, calling a step adds a :class:`Node` and
answers :class:`Output` placeholders instead of values. Passing a placeholder to another step
is what makes an edge, so the graph always follows the dataflow.
"""

from __future__ import annotations

import graphlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stackml.errors import InvalidInput

if TYPE_CHECKING:
    from stackml.pipelines.definition import Step

__all__ = ["DatasetInput", "Graph", "Node", "Output"]


@dataclass(frozen=True)
class Output:
    """A placeholder for output ``name`` of node ``node`` (what a traced step call answers)."""

    node: str
    name: str = "output"
    graph_id: int = 0

    def __iter__(self) -> Iterator[Output]:
        raise InvalidInput(
            f"step {self.node!r} has one output; declare several with @step(outputs=(...)) "
            "to unpack it"
        )


@dataclass(frozen=True)
class DatasetInput:
    """A dataset version as a step input: resolved when the run starts, so a new version of
    the dataset changes the cache key of every step that reads it."""

    dataset: str
    ref: str = "latest"


@dataclass
class Node:
    """One call of a step in a pipeline."""

    name: str
    step: Step
    inputs: dict[str, Output] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    after: tuple[str, ...] = ()

    @property
    def upstream(self) -> tuple[str, ...]:
        """Names of the nodes this one waits for, in first-use order."""
        names = [o.node for o in self.inputs.values()] + list(self.after)
        return tuple(dict.fromkeys(names))


class Graph:
    """The nodes of one traced pipeline, in call order."""

    def __init__(self, pipeline: str) -> None:
        self.pipeline = pipeline
        self.nodes: dict[str, Node] = {}

    def unique_name(self, base: str) -> str:
        """``base``, or ``base_2``, ``base_3``… when a step is called more than once."""
        if base not in self.nodes:
            return base
        n = 2
        while f"{base}_{n}" in self.nodes:
            n += 1
        return f"{base}_{n}"

    def validate(self) -> list[str]:
        """Check every edge and answer a topological order.

        Raises:
            InvalidInput: an input refers to a node or output that does not exist, or the
                graph has a cycle. Nothing has run when this is raised.
        """
        if not self.nodes:
            raise InvalidInput(f"pipeline {self.pipeline!r} calls no step")
        sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
        for node in self.nodes.values():
            for arg, source in node.inputs.items():
                upstream = self.nodes.get(source.node)
                if upstream is None or source.graph_id != id(self):
                    raise InvalidInput(
                        f"step {node.name!r} reads input {arg!r} from {source.node!r}, which "
                        f"is not a step of pipeline {self.pipeline!r}"
                    )
                if source.name not in upstream.step.outputs:
                    raise InvalidInput(
                        f"step {node.name!r} reads output {source.name!r} of {source.node!r}, "
                        f"which only has {', '.join(upstream.step.outputs)}"
                    )
            for name in node.after:
                if name not in self.nodes:
                    raise InvalidInput(
                        f"step {node.name!r} runs after {name!r}, which is not a step of "
                        f"pipeline {self.pipeline!r}"
                    )
            sorter.add(node.name, *node.upstream)
        try:
            return list(sorter.static_order())
        except graphlib.CycleError as error:
            cycle = " -> ".join(error.args[1])
            raise InvalidInput(f"pipeline {self.pipeline!r} has a cycle: {cycle}") from error

    def downstream(self, name: str) -> set[str]:
        """Every node that depends on ``name``, directly or not."""
        found: set[str] = set()
        frontier = [name]
        while frontier:
            current = frontier.pop()
            for node in self.nodes.values():
                if current in node.upstream and node.name not in found:
                    found.add(node.name)
                    frontier.append(node.name)
        return found

    def spec(self) -> dict[str, Any]:
        """The shape of the DAG as JSON (stored with the pipeline for the UI and exports)."""
        return {
            "steps": [
                {
                    "name": node.name,
                    "function": node.step.qualified_name,
                    "upstream": list(node.upstream),
                    "inputs": {arg: [o.node, o.name] for arg, o in node.inputs.items()},
                    "outputs": list(node.step.outputs),
                    "executor": node.step.executor or "",
                    "cache": node.step.cache,
                }
                for node in self.nodes.values()
            ]
        }
