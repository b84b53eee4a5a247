"""REST API of the sweeps capability under ``/api/v1``: sweeps, trial slots, trial mirrors and
coarse-to-fine rounds (what :class:`~stackml.store.rest_tuning.RestSweepStore` calls)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from stackml.server.auth import authenticated
from stackml.server.deps import get_metadata
from stackml.server.routers._common import API_PREFIX, ERROR_RESPONSES
from stackml.store.base import MetadataStore
from stackml.store.tuning_base import Sweep, SweepRound, SweepTrial

router = APIRouter(
    prefix=API_PREFIX,
    tags=["tuning"],
    responses=ERROR_RESPONSES,
    dependencies=[Depends(authenticated)],
)


class SweepIn(BaseModel):
    """A new sweep."""

    name: str
    project: str
    run_id: str
    method: str
    spec: dict[str, Any]
    budget: int


class SweepOut(BaseModel):
    """A sweep."""

    id: str
    name: str
    project: str
    run_id: str
    method: str
    spec: dict[str, Any]
    state: str
    budget: int
    claimed: int
    created_at: int
    updated_at: int

    @classmethod
    def of(cls, s: Sweep) -> SweepOut:
        return cls(**s.__dict__)


class StateIn(BaseModel):
    """A sweep's new state."""

    state: str


class SlotOut(BaseModel):
    """A claimed trial slot, or ``null`` when the budget is spent."""

    slot: int | None


class TrialIn(BaseModel):
    """The mirror of one trial."""

    run_id: str
    state: str
    values: list[float | None] | None = None
    params: dict[str, Any] = Field(default_factory=dict)


class TrialOut(BaseModel):
    """One trial of a sweep."""

    sweep_id: str
    number: int
    run_id: str
    state: str
    values: list[float | None] | None
    params: dict[str, Any]
    updated_at: int

    @classmethod
    def of(cls, t: SweepTrial) -> TrialOut:
        return cls(**t.__dict__)


class RoundIn(BaseModel):
    """The space of one coarse-to-fine round."""

    space: dict[str, Any]


class RoundOut(BaseModel):
    """A recorded coarse-to-fine round."""

    sweep_id: str
    round: int
    space: dict[str, Any]
    created_at: int

    @classmethod
    def of(cls, r: SweepRound) -> RoundOut:
        return cls(**r.__dict__)


@router.post("/sweeps", response_model=SweepOut)
def create_sweep(body: SweepIn, store: MetadataStore = Depends(get_metadata)) -> SweepOut:
    """Record a new sweep."""
    found = store.create_sweep(
        body.name,
        project=body.project,
        run_id=body.run_id,
        method=body.method,
        spec=body.spec,
        budget=body.budget,
    )
    return SweepOut.of(found)


@router.get("/sweeps", response_model=list[SweepOut])
def list_sweeps(
    project: str | None = None,
    name: str | None = Query(default=None, max_length=128),
    store: MetadataStore = Depends(get_metadata),
) -> list[SweepOut]:
    """Sweeps, newest first; ``name`` (with ``project``) picks one by name."""
    if name is not None and project is not None:
        return [SweepOut.of(store.get_sweep(f"{project}/{name}"))]
    return [SweepOut.of(s) for s in store.list_sweeps(project)]


@router.get("/sweeps/{sweep_id}", response_model=SweepOut)
def get_sweep(sweep_id: str, store: MetadataStore = Depends(get_metadata)) -> SweepOut:
    """One sweep."""
    return SweepOut.of(store.get_sweep(sweep_id))


@router.put("/sweeps/{sweep_id}/state", response_model=SweepOut)
def set_sweep_state(
    sweep_id: str, body: StateIn, store: MetadataStore = Depends(get_metadata)
) -> SweepOut:
    """Move a sweep to another state (``stopped`` ends it: no more slots are handed out)."""
    return SweepOut.of(store.set_sweep_state(sweep_id, body.state))


@router.post("/sweeps/{sweep_id}/slots", response_model=SlotOut)
def claim_trial_slot(sweep_id: str, store: MetadataStore = Depends(get_metadata)) -> SlotOut:
    """Atomically take the next trial slot."""
    return SlotOut(slot=store.claim_trial_slot(sweep_id))


@router.get("/sweeps/{sweep_id}/trials", response_model=list[TrialOut])
def list_sweep_trials(
    sweep_id: str, store: MetadataStore = Depends(get_metadata)
) -> list[TrialOut]:
    """The sweep's trials by number."""
    return [TrialOut.of(t) for t in store.list_sweep_trials(sweep_id)]


@router.put("/sweeps/{sweep_id}/trials/{number}", response_model=TrialOut)
def record_trial(
    sweep_id: str, number: int, body: TrialIn, store: MetadataStore = Depends(get_metadata)
) -> TrialOut:
    """Create or replace the mirror of one trial."""
    values = (
        None if body.values is None else [v if v is not None else float("nan") for v in body.values]
    )
    found = store.record_trial(
        sweep_id, number, run_id=body.run_id, state=body.state, values=values, params=body.params
    )
    return TrialOut.of(found)


@router.get("/sweeps/{sweep_id}/rounds", response_model=list[RoundOut])
def list_sweep_rounds(
    sweep_id: str, store: MetadataStore = Depends(get_metadata)
) -> list[RoundOut]:
    """Recorded coarse-to-fine rounds."""
    return [RoundOut.of(r) for r in store.list_sweep_rounds(sweep_id)]


@router.put("/sweeps/{sweep_id}/rounds/{round_number}", response_model=RoundOut)
def add_sweep_round(
    sweep_id: str, round_number: int, body: RoundIn, store: MetadataStore = Depends(get_metadata)
) -> RoundOut:
    """Record a round's space unless one is recorded; answers the stored one."""
    return RoundOut.of(store.add_sweep_round(sweep_id, round_number, body.space))
