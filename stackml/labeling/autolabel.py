"""Auto-labeling: a model's confident predictions become machine labels.

Predictions whose confidence reaches ``threshold`` are submitted as annotations with
``origin="machine"``, the model's name and its confidence (provenance kept). A random
``audit`` share of them goes to the reviewers' queue (status ``audit``). Tasks below the
threshold stay in the queue for people. Exports include, exclude or weigh machine labels
(:func:`stackml.labeling.export_dataset` ``machine=``).

The model is any callable over task data (see :mod:`stackml.labeling.active`): class
probabilities for classification projects, or a mapping ``{"values": [...],
"confidences": [...]}`` with ready-made annotation values for any task type.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from stackml.errors import InvalidInput, StackmlError
from stackml.labeling.active import Model, task_input

if TYPE_CHECKING:
    from stackml.store import Store
    from stackml.store.labeling_entities import LabelTask

MACHINE_USER = "machine"


@dataclass(frozen=True)
class AutoLabelReport:
    """What an auto-labeling pass did."""

    scored: int
    labeled: int
    audited: int
    below_threshold: int


def _values(
    model: Model, items: list[Mapping[str, Any]], classes: list[str], kind: str
) -> tuple[list[Any], np.ndarray]:
    answer = model(items)
    if isinstance(answer, Mapping) and "values" in answer:
        values = list(answer["values"])
        conf = np.asarray(answer.get("confidences"), dtype=float)
        if len(values) != len(items) or conf.shape != (len(items),):
            raise InvalidInput("the model must answer one value and one confidence per item")
        return values, conf
    probs = np.asarray(
        answer["probabilities"] if isinstance(answer, Mapping) else answer, dtype=float
    )
    if kind not in ("image_classification", "text_classification"):
        raise InvalidInput(f"a {kind} project needs a model answering {{'values', 'confidences'}}")
    if probs.ndim != 2 or probs.shape != (len(items), len(classes)):
        raise InvalidInput(f"the model must answer {len(items)} x {len(classes)} probabilities")
    best = probs.argmax(axis=1)
    return [{"class": classes[i]} for i in best], probs.max(axis=1)


def auto_label(
    project: str,
    model: Model,
    *,
    threshold: float = 0.95,
    audit: float = 0.1,
    model_name: str = "model",
    seed: int = 0,
    batch_size: int = 256,
    data_loader: Callable[[LabelTask], Mapping[str, Any]] | None = None,
    store: Store | None = None,
) -> AutoLabelReport:
    """Label the open tasks of ``project`` the model is confident about."""
    from stackml.labeling.projects import get_store

    if not 0 < threshold <= 1 or not 0 <= audit <= 1:
        raise InvalidInput("threshold must be in (0, 1] and audit in [0, 1]")
    store = get_store(store)
    config = store.metadata.get_label_project(project).config
    rng = np.random.default_rng(seed)
    tasks: list[LabelTask] = []
    after = 0
    while page := store.metadata.list_label_tasks(
        project, state="open", after_id=after, limit=5000
    ):
        tasks.extend(t for t in page if t.done_count == 0)
        after = page[-1].id
    load = data_loader or (lambda t: task_input(store, t))
    labeled = audited = below = 0
    for start in range(0, len(tasks), batch_size):
        chunk = tasks[start : start + batch_size]
        values, conf = _values(
            model, [load(t) for t in chunk], config.class_names(), config.task_type
        )
        for task, value, c in zip(chunk, values, conf, strict=True):
            if not np.isfinite(c) or c < threshold:
                below += 1
                continue
            sampled = bool(rng.random() < audit)
            try:
                store.metadata.submit_annotation(
                    task.id,
                    MACHINE_USER,
                    value,
                    origin="machine",
                    model=model_name,
                    confidence=float(c),
                    audit=sampled,
                )
            except StackmlError:
                below += 1  # e.g. a value outside the image: leave it to people
                continue
            labeled += 1
            audited += sampled
    return AutoLabelReport(len(tasks), labeled, audited, below)
