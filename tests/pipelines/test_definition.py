"""Defining pipelines: the DAG follows the dataflow; bad graphs fail before anything runs."""

from __future__ import annotations

import pytest

import stackml
from stackml.errors import InvalidInput
from stackml.pipelines import Step
from stackml.store import Store
from tests.pipelines import steps_demo


@stackml.step
def one() -> int:
    return 1


@stackml.step
def add(a: int, b: int = 10) -> int:
    return a + b


def test_a_step_outside_a_pipeline_is_a_plain_call() -> None:
    assert add(1, 2) == 3
    assert steps_demo.total.fn is steps_demo.total.__wrapped__


def test_dag_is_inferred_from_dataflow() -> None:
    graph = steps_demo.numbers.build({"n": 4})
    assert list(graph.nodes) == ["make_numbers", "split", "total"]
    assert graph.nodes["split"].upstream == ("make_numbers",)
    assert graph.nodes["total"].upstream == ("split",)
    assert graph.nodes["total"].inputs["odds"].name == "odds"
    assert graph.nodes["make_numbers"].params == {"n": 4}
    assert graph.downstream("make_numbers") == {"split", "total"}


def test_repeated_steps_get_unique_names() -> None:
    @stackml.pipeline(name="twice")
    def twice():
        add(add(one()), b=2)

    graph = twice.build()
    assert list(graph.nodes) == ["one", "add", "add_2"]
    assert graph.nodes["add"].params == {"b": 10}


def test_step_class_configures_a_function() -> None:
    configured = Step(
        add.fn,
        name="adder",
        retries=2,
        cache=False,
        executor="local",
        resources={"cpus": 2},
        outputs=("sum",),
    )
    assert configured.name == "adder" and configured.options.retries == 2
    assert not configured.cache and configured.executor == "local"
    assert configured.configure(retries=0).options.retries == 0
    with pytest.raises(InvalidInput):
        Step(add.fn, retries=-1)
    with pytest.raises(InvalidInput):
        Step(add.fn, timeout=0)
    with pytest.raises(InvalidInput):
        Step(add.fn, outputs=("a", "a"))


def test_missing_input_is_a_clear_error_before_running(store: Store) -> None:
    @stackml.pipeline(name="missing_input")
    def missing_input():
        add()  # a is required

    with pytest.raises(InvalidInput, match="missing"):
        missing_input.run(store=store)
    assert store.metadata.list_pipeline_runs() == []


def test_output_of_another_pipeline_is_a_missing_input(store: Store) -> None:
    foreign = steps_demo.numbers.build({"n": 1}).nodes["total"]
    leaked = foreign.inputs["evens"]

    @stackml.pipeline(name="uses_foreign")
    def uses_foreign():
        add(leaked)

    with pytest.raises(InvalidInput, match="not a step of pipeline"):
        uses_foreign.run(store=store)


def test_cycle_is_a_clear_error_before_running(store: Store) -> None:
    first = add.configure(name="first", after=("second",))
    second = add.configure(name="second", after=("first",))

    @stackml.pipeline(name="cyclic")
    def cyclic():
        first(1)
        second(2)

    with pytest.raises(InvalidInput, match="cycle"):
        cyclic.run(store=store)
    assert store.metadata.list_pipeline_runs() == []


def test_unknown_after_and_bad_params(store: Store) -> None:
    lost = add.configure(name="lost", after=("nowhere",))

    @stackml.pipeline(name="lost_after")
    def lost_after():
        lost(1)

    with pytest.raises(InvalidInput, match="nowhere"):
        lost_after.build()
    with pytest.raises(InvalidInput):
        steps_demo.numbers.run({"nope": 1}, store=store)


def test_unpacking_a_single_output_is_refused() -> None:
    @stackml.pipeline(name="unpack")
    def unpack():
        a, b = one()
        add(a, b)

    with pytest.raises(InvalidInput, match="one output"):
        unpack.build()


def test_outputs_hidden_in_containers_are_refused() -> None:
    @stackml.step
    def takes_list(values: list) -> int:
        return len(values)

    @stackml.pipeline(name="hidden")
    def hidden():
        takes_list([one()])

    with pytest.raises(InvalidInput, match="container"):
        hidden.build()


def test_public_names() -> None:
    assert stackml.step is stackml.pipelines.step
    assert stackml.Step is Step
    assert isinstance(steps_demo.numbers, stackml.pipelines.Pipeline)
