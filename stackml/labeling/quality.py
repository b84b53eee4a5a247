"""Quality control: agreement (Cohen's and Fleiss' kappa, IoU), gold scores, consensus and
per-annotator statistics.

All functions work on annotation snapshots (``Annotation``) so that they run the same on an
embedded store or against a server. Only *live* annotations count: rejected and superseded
(``fixed``) ones are left out; extra (late) annotations count for agreement but not twice for
the same annotator.
"""

from __future__ import annotations

import itertools
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stackml.labeling import geometry
from stackml.store.labeling_entities import Annotation, LabelConfig, LabelTask

CLASS_TYPES = frozenset({"image_classification", "text_classification"})
SHAPE_TYPES = frozenset({"bboxes", "polygons", "masks"})
LIVE = frozenset({"submitted", "audit", "accepted"})


def live(annotations: Iterable[Annotation]) -> list[Annotation]:
    """Annotations that still stand (not rejected, not replaced by a reviewer's fix)."""
    return [a for a in annotations if a.status in LIVE]


def by_task(annotations: Iterable[Annotation]) -> dict[int, dict[str, Annotation]]:
    """``task id -> user -> annotation`` (a user's latest live one)."""
    out: dict[int, dict[str, Annotation]] = defaultdict(dict)
    for a in sorted(live(annotations), key=lambda a: a.id):
        out[a.task_id][a.user] = a
    return dict(out)


# -- kappa -------------------------------------------------------------------------------
def cohen_kappa(a: Sequence[str], b: Sequence[str]) -> float:
    """Cohen's kappa of two raters' labels of the same items (scikit-learn)."""
    from sklearn.metrics import cohen_kappa_score

    if len(a) != len(b) or not a:
        raise ValueError("Cohen's kappa needs two equally long, non-empty label lists")
    if len(set(a) | set(b)) == 1:
        return 1.0  # both raters always gave the same single label
    return float(cohen_kappa_score(list(a), list(b)))


def fleiss_kappa(counts: np.ndarray) -> float:
    """Fleiss' kappa of an ``items x categories`` matrix of rating counts.

    Every item must have the same number of ratings ``n >= 2``.
    """
    table = np.asarray(counts, dtype=float)
    if table.ndim != 2 or table.shape[0] == 0:
        raise ValueError("Fleiss' kappa needs an items x categories count matrix")
    n = table.sum(axis=1)
    if not np.all(n == n[0]) or n[0] < 2:
        raise ValueError("Fleiss' kappa needs the same number (>= 2) of ratings per item")
    raters = n[0]
    p_j = table.sum(axis=0) / table.sum()
    p_i = ((table * (table - 1)).sum(axis=1)) / (raters * (raters - 1))
    p_bar, p_e = p_i.mean(), float((p_j**2).sum())
    if p_e >= 1.0:
        return 1.0
    return float((p_bar - p_e) / (1 - p_e))


# -- agreement ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Agreement:
    """Agreement over the items that at least two annotators labeled."""

    kind: str
    items: int
    pairwise: dict[str, float] = field(default_factory=dict)
    mean: float | None = None
    fleiss: float | None = None


def _label_key(value: Mapping[str, Any]) -> str:
    if "class" in value:
        return str(value["class"])
    if "classes" in value:
        return "|".join(value["classes"])
    if "spans" in value:
        return ";".join(f"{s['class']}:{s['start']}-{s['end']}" for s in value["spans"])
    return repr(sorted(value.items()))


def _pair_score(kind: str, a: Mapping[str, Any], b: Mapping[str, Any]) -> float:
    if kind in SHAPE_TYPES:
        return geometry.shape_agreement(
            kind, geometry.shapes_of(kind, a), geometry.shapes_of(kind, b)
        )
    return 1.0 if _label_key(a) == _label_key(b) else 0.0


def agreement(config: LabelConfig, annotations: Iterable[Annotation]) -> Agreement:
    """Inter-annotator agreement of a project.

    Classes: Cohen's kappa per pair of annotators (on the items both labeled) and Fleiss'
    kappa over the items with the most common number of ratings. Boxes, polygons and masks:
    mean IoU-based agreement per pair (see :func:`geometry.shape_agreement`). Other types: the
    share of exact matches per pair.
    """
    kind = config.task_type
    tasks = {
        t: u
        for t, u in by_task(a for a in annotations if a.origin != "machine").items()
        if len(u) >= 2
    }
    pairs: dict[tuple[str, str], list[tuple[Mapping[str, Any], Mapping[str, Any]]]] = defaultdict(
        list
    )
    for users in tasks.values():
        for ua, ub in itertools.combinations(sorted(users), 2):
            pairs[(ua, ub)].append((users[ua].value, users[ub].value))
    pairwise: dict[str, float] = {}
    for (ua, ub), values in sorted(pairs.items()):
        if kind in CLASS_TYPES or kind == "image_multilabel":
            score = cohen_kappa(
                [_label_key(x) for x, _ in values], [_label_key(y) for _, y in values]
            )
        else:
            score = float(np.mean([_pair_score(kind, x, y) for x, y in values]))
        pairwise[f"{ua}~{ub}"] = score
    fleiss = None
    if kind in CLASS_TYPES and tasks:
        raters = Counter(len(u) for u in tasks.values()).most_common(1)[0][0]
        names = config.class_names()
        rows = []
        for users in tasks.values():
            if len(users) == raters:
                counts = Counter(_label_key(a.value) for a in users.values())
                rows.append([counts.get(c, 0) for c in names])
        fleiss = fleiss_kappa(np.asarray(rows)) if rows else None
    mean = float(np.mean(list(pairwise.values()))) if pairwise else None
    return Agreement(kind, len(tasks), pairwise, mean, fleiss)


# -- gold ----------------------------------------------------------------------------------
def gold_score(config: LabelConfig, value: Mapping[str, Any], gold: Mapping[str, Any]) -> float:
    """How well one answer matches a known one, 0..1 (shapes: IoU agreement)."""
    return _pair_score(config.task_type, value, gold)


def gold_scores(
    config: LabelConfig, tasks: Iterable[LabelTask], annotations: Iterable[Annotation]
) -> dict[str, float]:
    """Each annotator's mean score on the gold tasks they labeled."""
    gold = {t.id: t.gold for t in tasks if t.gold is not None}
    scores: dict[str, list[float]] = defaultdict(list)
    for task_id, users in by_task(annotations).items():
        if task_id in gold:
            for user, a in users.items():
                scores[user].append(gold_score(config, a.value, gold[task_id]))  # type: ignore[arg-type]
    return {u: float(np.mean(s)) for u, s in sorted(scores.items())}


# -- consensus -----------------------------------------------------------------------------
def _weight(a: Annotation, weights: Mapping[str, float] | None, machine_weight: float) -> float:
    base = machine_weight if a.origin == "machine" else 1.0
    if weights is not None and a.origin != "machine":
        base *= max(weights.get(a.user, 0.5), 1e-6)
    return base


def consensus_value(
    config: LabelConfig,
    annotations: Sequence[Annotation],
    weights: Mapping[str, float] | None = None,
    machine_weight: float = 1.0,
) -> tuple[dict[str, Any], float] | None:
    """The consensus of one task's annotations and its support (0..1), or ``None``.

    Majority vote (``weights=None``) or votes weighted by annotator score (e.g. gold scores).
    Classes: the heaviest class. Multi-label: classes with more than half the weight. Boxes:
    boxes clustered across annotators at IoU >= 0.5, kept when their cluster carries more than
    half the weight, coordinates averaged by weight. Polygons, masks, keypoints and spans: the
    answer that agrees most with the others (the weighted medoid).
    """
    items = [a for a in annotations if a.status in LIVE]
    if not items:
        return None
    kind = config.task_type
    w = [_weight(a, weights, machine_weight) for a in items]
    total = sum(w)
    if kind in CLASS_TYPES:
        votes: dict[str, float] = defaultdict(float)
        for a, wi in zip(items, w, strict=True):
            votes[a.value["class"]] += wi
        best = max(votes, key=lambda c: (votes[c], -config.class_names().index(c)))
        return {"class": best}, votes[best] / total
    if kind == "image_multilabel":
        votes = defaultdict(float)
        for a, wi in zip(items, w, strict=True):
            for c in a.value.get("classes", []):
                votes[c] += wi
        chosen = [c for c in config.class_names() if votes.get(c, 0) > total / 2]
        support = min((votes[c] / total for c in chosen), default=1.0)
        return {"classes": chosen}, support
    if kind == "bboxes" and len(items) > 1:
        return _box_consensus(items, w, total)
    # The weighted medoid: the answer closest to all others.
    best_i, best_s = 0, -1.0
    for i, a in enumerate(items):
        s = w[i] + sum(
            w[j] * _pair_score(kind, a.value, b.value) for j, b in enumerate(items) if j != i
        )
        if s > best_s:
            best_i, best_s = i, s
    return dict(items[best_i].value), best_s / total


def _box_consensus(
    items: Sequence[Annotation], w: Sequence[float], total: float
) -> tuple[dict[str, Any], float]:
    clusters: list[list[tuple[Mapping[str, Any], float]]] = []
    for a, wi in zip(items, w, strict=True):
        for b in a.value.get("boxes", []):
            best, best_iou = None, 0.5
            for cluster in clusters:
                iou = geometry.shape_iou("bboxes", cluster[0][0], b)
                if iou >= best_iou:
                    best, best_iou = cluster, iou
            if best is None:
                clusters.append([(b, wi)])
            else:
                best.append((b, wi))
    boxes, supports = [], []
    for cluster in clusters:
        weight = sum(wi for _, wi in cluster)
        if weight <= total / 2:
            continue
        avg = {k: sum(b[k] * wi for b, wi in cluster) / weight for k in ("x", "y", "w", "h")}
        boxes.append({"class": cluster[0][0]["class"], **avg})
        supports.append(weight / total)
    return {"boxes": boxes}, min(supports, default=1.0)


def consensus(
    config: LabelConfig,
    annotations: Iterable[Annotation],
    *,
    method: str = "majority",
    weights: Mapping[str, float] | None = None,
    machine_weight: float = 1.0,
) -> dict[int, tuple[dict[str, Any], float]]:
    """Consensus per task: ``task id -> (value, support)``.

    ``method="weighted"`` weighs each annotator by ``weights`` (default: nothing given means
    every annotator weighs 1, as with ``"majority"``).
    """
    if method not in ("majority", "weighted"):
        raise ValueError("consensus method is 'majority' or 'weighted'")
    grouped: dict[int, list[Annotation]] = defaultdict(list)
    for a in live(annotations):
        grouped[a.task_id].append(a)
    chosen = weights if method == "weighted" else None
    out = {}
    for task_id, items in grouped.items():
        result = consensus_value(config, items, chosen, machine_weight)
        if result is not None:
            out[task_id] = result
    return out


# -- per-annotator statistics --------------------------------------------------------------
@dataclass(frozen=True)
class AnnotatorStats:
    """What one annotator did and how well."""

    user: str
    annotations: int
    median_seconds: float | None
    agreement: float | None
    gold_accuracy: float | None
    accepted: int
    rejected: int


def annotator_stats(
    config: LabelConfig, tasks: Iterable[LabelTask], annotations: Iterable[Annotation]
) -> list[AnnotatorStats]:
    """Speed, agreement with the other annotators, accuracy on gold and review outcomes."""
    every = [a for a in annotations if a.origin == "human"]
    gold = gold_scores(config, tasks, every)
    grouped = by_task(every)
    agree: dict[str, list[float]] = defaultdict(list)
    for users in grouped.values():
        for ua, ub in itertools.permutations(users, 2):
            agree[ua].append(_pair_score(config.task_type, users[ua].value, users[ub].value))
    out = []
    for user in sorted({a.user for a in every}):
        mine = [a for a in every if a.user == user]
        durations = [a.duration_ms / 1000 for a in mine if a.duration_ms is not None]
        out.append(
            AnnotatorStats(
                user=user,
                annotations=len(mine),
                median_seconds=statistics.median(durations) if durations else None,
                agreement=float(np.mean(agree[user])) if agree.get(user) else None,
                gold_accuracy=gold.get(user),
                accepted=sum(a.status == "accepted" for a in mine),
                rejected=sum(a.status == "rejected" for a in mine),
            )
        )
    return out
