"""View models of the serving pages: the deployments list, one deployment (traffic split,
live metrics from its heartbeat, recent predictions) and the playground (a form generated
from the model's signature, or an image upload, sent to the deployment's ``/predict``)."""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stackml.errors import InvalidInput, NotFound, StackmlError
from stackml.ui.rendering import Area, register_area

if TYPE_CHECKING:
    from stackml.store import Store
    from stackml.store.serving_base import Deployment

__all__ = [
    "DeploymentPage",
    "PlaygroundPage",
    "build_deployment_page",
    "build_playground",
    "list_deployments",
    "send_to_playground",
]

register_area(Area("deployments", "Deployments", "/deployments"), after="models")

#: A heartbeat older than this marks the deployment as gone quiet.
STALE_MS = 30_000
RECENT_ROWS = 20
SPLIT_COLORS = {"primary": "var(--accent)", "canary": "var(--warn)", "shadow": "var(--muted)"}


@dataclass(frozen=True)
class SplitPart:
    """One variant's share of the traffic."""

    role: str
    ref: str
    version: int
    percent: float
    color: str
    ready: bool
    error: str | None


@dataclass(frozen=True)
class DeploymentRow:
    """A deployment in the list, with its health judged from the heartbeat."""

    deployment: Deployment
    health: str
    split: list[SplitPart]


@dataclass(frozen=True)
class DeploymentPage:
    """Everything the deployment page shows."""

    row: DeploymentRow
    stats: list[tuple[str, str]]
    queues: list[tuple[str, str, str]]
    recent: list[dict[str, Any]]
    logged: list[dict[str, Any]]
    feedback_count: int


@dataclass(frozen=True)
class FieldView:
    """One record feature of the playground form."""

    name: str
    kind: str
    choices: tuple[str, ...] = ()
    placeholder: str = ""
    required: bool = True


@dataclass
class PlaygroundPage:
    """The playground: what input the model takes and, after a try, its answer."""

    deployment: Deployment
    model: str
    version: int
    mode: str
    fields: list[FieldView] = field(default_factory=list)
    input_shape: str = ""
    result: dict[str, Any] | None = None
    error: str = ""


def _health(d: Deployment, now_ms: int) -> str:
    if d.status == "stopped":
        return "stopped"
    if now_ms - d.heartbeat_at > STALE_MS:
        return "silent"
    return d.status


def _split(d: Deployment) -> list[SplitPart]:
    parts = []
    for m in d.models:
        role = str(m.get("variant", "primary"))
        weight = float(m.get("weight", 1.0)) if role != "shadow" else 0.0
        parts.append(
            SplitPart(
                role,
                str(m.get("ref", m.get("name", ""))),
                int(m.get("version", 0)),
                round(weight * 100, 1),
                SPLIT_COLORS.get(role, "var(--accent)"),
                bool(m.get("ready", True)),
                m.get("error"),
            )
        )
    return parts


def _row(d: Deployment) -> DeploymentRow:
    return DeploymentRow(d, _health(d, int(time.time() * 1000)), _split(d))


def list_deployments(store: Store) -> list[DeploymentRow]:
    """Every recorded deployment, most recent heartbeat first."""
    return [_row(d) for d in store.metadata.list_deployments()]


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and not math.isfinite(value):
        return "—"
    if isinstance(value, float):
        return f"{value:,.2f}{unit}"
    return f"{value:,}{unit}"


def build_deployment_page(store: Store, name: str) -> DeploymentPage:
    """The deployment, its live figures and its most recent predictions."""
    from stackml.serving.logs import read_predictions

    d = store.metadata.get_deployment(name)
    m = dict(d.metrics)
    stats = [
        ("Requests", _fmt(m.get("requests_total"))),
        ("Requests/s (1 min)", _fmt(m.get("requests_per_s"))),
        ("p50 latency", _fmt(m.get("p50_ms"), " ms")),
        ("p99 latency", _fmt(m.get("p99_ms"), " ms")),
        ("Error rate", _fmt(None if m.get("error_rate") is None else m["error_rate"] * 100, " %")),
        ("Logged predictions", _fmt(m.get("logged"))),
    ]
    queues = []
    for key, value in sorted(m.items()):
        if key.startswith("queue_rows."):
            variant = key.removeprefix("queue_rows.")
            queues.append((variant, _fmt(value), _fmt(m.get(f"batch_target.{variant}"))))
    table = read_predictions(store, name, limit=RECENT_ROWS)
    keep = [
        "request_id",
        "ts_ms",
        "model",
        "version",
        "variant",
        "prediction",
        "confidence",
        "latency_ms",
    ]
    logged = list(reversed(table.select([c for c in keep if c in table.column_names]).to_pylist()))
    feedback = store.metadata.list_feedback(name, limit=10_000)
    recent = [dict(r) for r in m.get("recent", [])][:RECENT_ROWS]
    return DeploymentPage(_row(d), stats, queues, recent, logged, len(feedback))


def _primary(d: Deployment) -> dict[str, Any]:
    for m in d.models:
        if m.get("variant", "primary") == "primary":
            return dict(m)
    raise NotFound(f"deployment {d.name!r} has no primary model")


def build_playground(store: Store, name: str) -> PlaygroundPage:
    """The playground form for the deployment's primary model, from its signature."""
    from stackml.registry import get_version
    from stackml.registry.signature import Signature

    d = store.metadata.get_deployment(name)
    primary = _primary(d)
    model, version = str(primary["name"]), int(primary.get("version", 0))
    page = PlaygroundPage(d, model, version, "tensor")
    try:
        signature = Signature.from_dict(get_version(f"{model}@{version}", store=store).signature)
    except StackmlError as exc:
        page.error = f"the model's signature is not in this store: {exc}"
        return page
    spec = signature.inputs[0]
    page.input_shape = "(" + ", ".join("N" if d == -1 else str(d) for d in spec.shape) + ")"
    if signature.input_schema is not None and signature.feature_names:
        page.mode = "records"
        for column in signature.input_schema.columns:
            stats = column.stats
            hint = ""
            if stats is not None and stats.mean is not None:
                hint = f"e.g. {stats.mean:.3g}"
            page.fields.append(
                FieldView(column.name, column.type, column.domain, hint, not column.nullable)
            )
    elif len(spec.shape) in (3, 4) or signature.extra.get("image") or _square(spec.shape):
        page.mode = "image"
    return page


def _square(shape: tuple[int, ...]) -> bool:
    """A flat input of a square number (>= 16) of pixels, such as 8x8 digits."""
    return len(shape) == 2 and shape[1] >= 16 and math.isqrt(shape[1]) ** 2 == shape[1]


def _number(text: str, name: str) -> float | None:
    if text.strip() == "":
        return None
    try:
        return float(text)
    except ValueError as exc:
        raise InvalidInput(f"field {name!r}: {text!r} is not a number") from exc


def send_to_playground(
    page: PlaygroundPage, form: dict[str, Any], image: tuple[str, bytes, str] | None
) -> PlaygroundPage:
    """Send the form (or image) to the deployment's ``/predict`` and keep its answer."""
    import httpx

    url = page.deployment.url.rstrip("/") + "/predict"
    headers = {}
    token = os.environ.get("STACKML_SERVE_TOKEN")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        if page.mode == "image":
            if image is None or not image[1]:
                raise InvalidInput("choose an image to upload")
            answer = httpx.post(
                url, files={"file": image}, data={"model": page.model}, headers=headers, timeout=30
            )
        elif page.mode == "records":
            record: dict[str, Any] = {}
            for f in page.fields:
                raw = str(form.get(f.name, ""))
                record[f.name] = raw if f.choices else _number(raw, f.name)
            answer = httpx.post(
                url, json={"model": page.model, "records": [record]}, headers=headers, timeout=30
            )
        else:
            raise InvalidInput("this model takes raw tensors: use the v2 infer route")
    except httpx.HTTPError as exc:
        page.error = f"the deployment at {page.deployment.url} did not answer: {exc}"
        return page
    except InvalidInput as exc:
        page.error = str(exc)
        return page
    try:
        body = answer.json()
    except ValueError:
        body = {"error": answer.text[:500]}
    if answer.status_code != 200:
        page.error = f"{answer.status_code}: {body.get('error', body)}"
        return page
    predictions = body.get("predictions") or []
    result: dict[str, Any] = {
        "request_id": body.get("request_id"),
        "version": body.get("version"),
        "variant": body.get("variant"),
    }
    if predictions:
        first = predictions[0]
        ranked = sorted(first["probabilities"].items(), key=lambda kv: -kv[1])[:5]
        result.update(
            label=first["label"],
            confidence=first["confidence"],
            top=[(k, v, round(v * 100, 1)) for k, v in ranked],
        )
    else:
        result["outputs"] = body.get("outputs")
    page.result = result
    return page
