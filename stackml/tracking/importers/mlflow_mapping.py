"""How MLflow experiments and lifecycles map onto stackml entities.

Shared by the MLflow API of ``stackml server`` and by ``stackml import mlflow``, so a run
logged through the MLflow client and a run imported from an MLflow store land in the same
place.

* An MLflow experiment is a stackml experiment. The name MLflow clients see is the project
  for a project's ``default`` experiment and ``project/experiment`` for the others, so
  ``mlflow.set_experiment("digits")`` logs into the stackml project ``digits``.
* A name that is not a valid stackml name (``"/Users/ada/my exp"``) gets a project named after
  it with the unsafe characters replaced; the original name is kept in the experiment tag
  :data:`NAME_TAG`, which also holds a name given by a rename.
* MLflow's soft delete is the tag :data:`LIFECYCLE_TAG` = ``"deleted"`` on the experiment or
  run; restoring removes it. MLflow's ``Default`` experiment (id ``0``) is the project
  ``Default``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from stackml._internal.names import validate_name
from stackml.errors import AlreadyExists, InvalidInput, NotFound
from stackml.store.base import DEFAULT_EXPERIMENT, MetadataStore
from stackml.store.entities import Experiment

#: Tag marking an experiment or run deleted through MLflow.
LIFECYCLE_TAG = "stackml.lifecycle"
#: Experiment tag holding the name MLflow clients see, when it is not the derived one.
NAME_TAG = "stackml.mlflow_name"
DELETED = "deleted"
#: Tags kept for bookkeeping and never shown to MLflow clients.
HIDDEN_TAGS = frozenset({LIFECYCLE_TAG, NAME_TAG})
DEFAULT_ID = "0"
DEFAULT_PROJECT = "Default"
MAX_NAME = 500
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")

__all__ = [
    "DEFAULT_ID",
    "DEFAULT_PROJECT",
    "DELETED",
    "HIDDEN_TAGS",
    "LIFECYCLE_TAG",
    "NAME_TAG",
    "create_experiment",
    "find_experiment",
    "is_deleted",
    "mlflow_name",
    "resolve_experiment",
]


def mlflow_name(experiment: Experiment) -> str:
    """The name MLflow clients see for a stackml experiment."""
    named = experiment.tags.get(NAME_TAG)
    if named:
        return named
    if experiment.name == DEFAULT_EXPERIMENT:
        return experiment.project
    return f"{experiment.project}/{experiment.name}"


def is_deleted(tags: Mapping[str, str]) -> bool:
    """Whether an experiment's or run's tags mark it deleted."""
    return tags.get(LIFECYCLE_TAG) == DELETED


def resolve_experiment(store: MetadataStore, experiment_id: str) -> Experiment:
    """The stackml experiment behind an MLflow experiment id (``0`` is ``Default``)."""
    if experiment_id == DEFAULT_ID:
        store.ensure_project(DEFAULT_PROJECT)
        return store.get_experiment_by_name(DEFAULT_PROJECT, DEFAULT_EXPERIMENT)
    if not experiment_id or len(experiment_id) > 64 or not experiment_id.isalnum():
        raise NotFound(f"No Experiment with id={experiment_id} exists")
    try:
        return store.get_experiment(experiment_id)
    except NotFound:
        raise NotFound(f"No Experiment with id={experiment_id} exists") from None


def find_experiment(store: MetadataStore, name: str) -> Experiment | None:
    """The experiment MLflow clients know as ``name``, if any."""
    if name == DEFAULT_PROJECT:
        return resolve_experiment(store, DEFAULT_ID)
    for experiment in store.list_experiments():
        if mlflow_name(experiment) == name:
            return experiment
    return None


def _valid(name: str) -> bool:
    try:
        validate_name(name)
    except ValueError:
        return False
    return True


def _create_natural(store: MetadataStore, name: str) -> Experiment | None:
    """Create ``project`` or ``project/experiment`` as named; ``None`` if that is not possible."""
    parts = name.split("/")
    if len(parts) > 2 or not all(_valid(p) for p in parts):
        return None
    if len(parts) == 1:
        try:
            store.create_project(name)
        except AlreadyExists:
            return None  # the project exists and its default experiment has another name
        return store.get_experiment_by_name(name, DEFAULT_EXPERIMENT)
    project, experiment = parts
    if experiment == DEFAULT_EXPERIMENT:
        return None
    store.ensure_project(project)
    try:
        return store.create_experiment(project, experiment)
    except AlreadyExists:
        return None


def _create_named(store: MetadataStore, name: str) -> Experiment:
    """A new project named after ``name`` whose default experiment carries the name tag."""
    base = _UNSAFE.sub("-", name).strip("-._")[:100] or "experiment"
    taken = {project.name for project in store.list_projects()}
    project, suffix = base, 2
    while project in taken:
        project, suffix = f"{base}-{suffix}", suffix + 1
    store.create_project(project)
    experiment = store.get_experiment_by_name(project, DEFAULT_EXPERIMENT)
    return store.set_experiment_tags(experiment.id, {NAME_TAG: name})


def create_experiment(
    store: MetadataStore, name: str, tags: Mapping[str, str] | None = None
) -> Experiment:
    """Create the experiment MLflow clients will know as ``name``.

    Raises:
        AlreadyExists: an experiment already has that name.
        InvalidInput: the name is blank or longer than 500 characters.
    """
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput("Invalid experiment name: must be a non-empty string.")
    if len(name) > MAX_NAME:
        raise InvalidInput(f"Experiment name exceeds the maximum length of {MAX_NAME}.")
    if find_experiment(store, name) is not None:
        raise AlreadyExists(f"Experiment(name={name}) already exists.")
    experiment = _create_natural(store, name) or _create_named(store, name)
    if tags:
        experiment = store.set_experiment_tags(experiment.id, dict(tags))
    return experiment
