"""Active learning: score unlabeled items with a model and reorder the label queue.

A *model* here is any callable that takes a list of task-data mappings and answers class
probabilities (``n x classes``), or a mapping ``{"probabilities": ..., "embeddings": ...}``
when it can also embed. Labeling sits below the model registry, so a registered model
version is wrapped into such a callable by the caller (the ``stackml label rank`` command
does it with :func:`stackml.registry.load`).

Strategies:

* ``entropy``: ``-sum p log p``;
* ``margin``: ``1 - (p1 - p2)`` (two most likely classes close: uncertain);
* ``least_confidence``: ``1 - max p``;
* ``k_center``: k-center greedy on the embeddings (diverse items first), with uncertainty
  breaking the remaining order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from stackml.errors import InvalidInput

if TYPE_CHECKING:
    from stackml.store import Store
    from stackml.store.labeling_entities import LabelTask

Model = Callable[[list[Mapping[str, Any]]], Any]
STRATEGIES = ("entropy", "margin", "least_confidence", "k_center")


def entropy(probs: np.ndarray) -> np.ndarray:
    """Entropy of each row of probabilities (nats)."""
    p = np.clip(np.asarray(probs, dtype=float), 1e-12, 1.0)
    return -(p * np.log(p)).sum(axis=1)


def margin(probs: np.ndarray) -> np.ndarray:
    """``1 - (top1 - top2)`` per row."""
    p = np.sort(np.asarray(probs, dtype=float), axis=1)
    if p.shape[1] < 2:
        return 1 - p[:, -1]
    return 1 - (p[:, -1] - p[:, -2])


def least_confidence(probs: np.ndarray) -> np.ndarray:
    """``1 - max p`` per row."""
    return 1 - np.asarray(probs, dtype=float).max(axis=1)


def k_center_greedy(embeddings: np.ndarray, k: int, labeled: np.ndarray | None = None) -> list[int]:
    """Indices of ``k`` items picked by k-center greedy (each the farthest from those picked).

    ``labeled`` are embeddings already covered (the first pick is then the item farthest from
    them); without them the first pick is the item farthest from the mean.
    """
    x = np.asarray(embeddings, dtype=float)
    n = len(x)
    if n == 0 or k <= 0:
        return []
    if labeled is not None and len(labeled):
        ref = np.asarray(labeled, dtype=float)
        dist = np.min(((x[:, None, :] - ref[None, :, :]) ** 2).sum(-1), axis=1)
    else:
        dist = ((x - x.mean(axis=0)) ** 2).sum(axis=1)
    picked: list[int] = []
    for _ in range(min(k, n)):
        i = int(np.argmax(dist))
        picked.append(i)
        dist = np.minimum(dist, ((x - x[i]) ** 2).sum(axis=1))
        dist[picked] = -1.0
    return picked


@dataclass(frozen=True)
class Scored:
    """Scores of items: higher means label sooner."""

    scores: np.ndarray
    probabilities: np.ndarray
    embeddings: np.ndarray | None


def predict(
    model: Model, items: Sequence[Mapping[str, Any]]
) -> tuple[np.ndarray, np.ndarray | None]:
    """Call ``model`` and split its answer into probabilities and optional embeddings."""
    answer = model(list(items))
    embeddings = None
    if isinstance(answer, Mapping):
        if "probabilities" not in answer:
            raise InvalidInput("a model answering a mapping must give 'probabilities'")
        probs = answer["probabilities"]
        embeddings = answer.get("embeddings")
    else:
        probs = answer
    probs = np.asarray(probs, dtype=float)
    if probs.ndim != 2 or len(probs) != len(items):
        raise InvalidInput(f"the model must answer {len(items)} rows of class probabilities")
    if not np.all(np.isfinite(probs)) or np.any(probs < 0):
        raise InvalidInput("the model answered probabilities that are not finite and >= 0")
    if embeddings is not None:
        embeddings = np.asarray(embeddings, dtype=float).reshape(len(items), -1)
    return probs, embeddings


def score(probs: np.ndarray, embeddings: np.ndarray | None, strategy: str) -> np.ndarray:
    """A priority per item for ``strategy`` (see the module docstring)."""
    if strategy == "entropy":
        return entropy(probs)
    if strategy == "margin":
        return margin(probs)
    if strategy == "least_confidence":
        return least_confidence(probs)
    if strategy == "k_center":
        if embeddings is None:
            raise InvalidInput("k_center needs a model that answers embeddings")
        order = k_center_greedy(embeddings, len(embeddings))
        out = np.zeros(len(embeddings))
        n = len(order)
        for rank, i in enumerate(order):
            out[i] = float(n - rank)  # earlier pick, higher priority
        return out + entropy(probs) / (np.log(max(probs.shape[1], 2)) + 1) * 0.5
    raise InvalidInput(f"unknown strategy {strategy!r}: use one of {STRATEGIES}")


def rank_tasks(
    store: Store,
    project: str,
    model: Model,
    *,
    strategy: str = "entropy",
    batch_size: int = 256,
    data_loader: Callable[[LabelTask], Mapping[str, Any]] | None = None,
) -> dict[int, float]:
    """Score every open task of ``project`` with ``model`` and set the scores as priorities.

    ``data_loader`` turns a task into what the model takes (default: the task's data with
    ``image_bytes`` added for image tasks). Answers ``task id -> priority``.
    """
    if strategy not in STRATEGIES:
        raise InvalidInput(f"unknown strategy {strategy!r}: use one of {STRATEGIES}")
    tasks: list[LabelTask] = []
    after = 0
    while True:
        page = store.metadata.list_label_tasks(project, state="open", after_id=after, limit=5000)
        if not page:
            break
        tasks.extend(page)
        after = page[-1].id
    if not tasks:
        return {}
    load = data_loader or (lambda t: task_input(store, t))
    probs_parts, emb_parts = [], []
    for start in range(0, len(tasks), batch_size):
        chunk = [load(t) for t in tasks[start : start + batch_size]]
        p, e = predict(model, chunk)
        probs_parts.append(p)
        emb_parts.append(e)
    probs = np.concatenate(probs_parts)
    embeddings: np.ndarray | None = (
        None if any(e is None for e in emb_parts) else np.concatenate(emb_parts)  # type: ignore[arg-type]
    )
    scores = score(probs, embeddings, strategy)
    priorities = {t.id: float(s) for t, s in zip(tasks, scores, strict=True)}
    store.metadata.set_label_priorities(project, priorities)
    return priorities


def task_input(store: Store, task: LabelTask) -> dict[str, Any]:
    """A task's data for a model: image tasks get ``image_bytes`` from the blob store."""
    data = dict(task.data)
    if isinstance(data.get("image"), str):
        data["image_bytes"] = store.blobs.get_bytes(data["image"])
    return data
