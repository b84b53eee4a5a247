"""``RestSweepStore``: the sweeps part of the metadata store over HTTP.

Mixed into :class:`~stackml.store.rest.RestMetadataStore`; each method is one request under
``/api/v1/sweeps``. The Optuna study cannot travel over this API: :meth:`study_storage_url`
raises, and running trials against a server needs the server's database URL (see the tuning
guide).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from stackml.errors import InvalidInput, NotFound
from stackml.store._http import HttpTransport
from stackml.store.sql.tuning_store import check_sweep_fields, check_trial_fields
from stackml.store.tuning_base import Sweep, SweepRound, SweepStore, SweepTrial

__all__ = ["RestSweepStore", "sweep_of", "trial_of"]


def _seg(value: str) -> str:
    if not isinstance(value, str) or not value or value in {".", ".."} or len(value) > 300:
        raise InvalidInput(f"invalid sweep id {value!r}")
    return quote(value, safe="")


def sweep_of(d: Mapping[str, Any]) -> Sweep:
    """A :class:`Sweep` from its JSON form."""
    return Sweep(
        d["id"],
        d["name"],
        d["project"],
        d["run_id"],
        d["method"],
        dict(d["spec"]),
        d["state"],
        d["budget"],
        d["claimed"],
        d["created_at"],
        d["updated_at"],
    )


def trial_of(d: Mapping[str, Any]) -> SweepTrial:
    """A :class:`SweepTrial` from its JSON form."""
    values = d.get("values")
    return SweepTrial(
        d["sweep_id"],
        d["number"],
        d["run_id"],
        d["state"],
        None if values is None else [float(v) for v in values],
        dict(d.get("params") or {}),
        d.get("updated_at", 0),
    )


def _round(d: Mapping[str, Any]) -> SweepRound:
    return SweepRound(d["sweep_id"], d["round"], dict(d["space"]), d["created_at"])


class RestSweepStore(SweepStore):
    """Sweeps rows through ``stackml server``."""

    http: HttpTransport

    def create_sweep(
        self,
        name: str,
        *,
        project: str,
        run_id: str,
        method: str,
        spec: Mapping[str, Any],
        budget: int,
    ) -> Sweep:
        name, project, run_id, method, doc, budget = check_sweep_fields(
            name, project, run_id, method, spec, budget
        )
        body = {
            "name": name,
            "project": project,
            "run_id": run_id,
            "method": method,
            "spec": doc,
            "budget": budget,
        }
        return sweep_of(self.http.call("POST", "/sweeps", json=body))

    def _id(self, sweep_id: str) -> str:
        """The id path segment; a ``project/name`` reference is looked up first."""
        if isinstance(sweep_id, str) and "/" in sweep_id:
            return self.get_sweep(sweep_id).id
        return _seg(sweep_id)

    def get_sweep(self, sweep_id: str) -> Sweep:
        if isinstance(sweep_id, str) and "/" in sweep_id:
            project, _, name = sweep_id.partition("/")
            found = self.http.call("GET", "/sweeps", params={"project": project, "name": name})
            if not found:
                raise NotFound(f"no sweep {sweep_id!r}: see `stackml sweep status` for the list")
            return sweep_of(found[0])
        return sweep_of(self.http.call("GET", f"/sweeps/{_seg(sweep_id)}"))

    def list_sweeps(self, project: str | None = None) -> list[Sweep]:
        params = {} if project is None else {"project": project}
        return [sweep_of(d) for d in self.http.call("GET", "/sweeps", params=params)]

    def set_sweep_state(self, sweep_id: str, state: str) -> Sweep:
        path = f"/sweeps/{self._id(sweep_id)}/state"
        return sweep_of(self.http.call("PUT", path, json={"state": state}))

    def claim_trial_slot(self, sweep_id: str) -> int | None:
        answer = self.http.call("POST", f"/sweeps/{self._id(sweep_id)}/slots")
        slot = answer.get("slot")
        return None if slot is None else int(slot)

    def record_trial(
        self,
        sweep_id: str,
        number: int,
        *,
        run_id: str,
        state: str,
        values: Sequence[float] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> SweepTrial:
        clean = check_trial_fields(number, run_id, state, values)
        body = {"run_id": run_id, "state": state, "values": clean, "params": dict(params or {})}
        path = f"/sweeps/{self._id(sweep_id)}/trials/{number}"
        return trial_of(self.http.call("PUT", path, json=body))

    def list_sweep_trials(self, sweep_id: str) -> list[SweepTrial]:
        return [trial_of(d) for d in self.http.call("GET", f"/sweeps/{self._id(sweep_id)}/trials")]

    def add_sweep_round(self, sweep_id: str, round: int, space: Mapping[str, Any]) -> SweepRound:
        path = f"/sweeps/{self._id(sweep_id)}/rounds/{int(round)}"
        return _round(self.http.call("PUT", path, json={"space": dict(space)}))

    def list_sweep_rounds(self, sweep_id: str) -> list[SweepRound]:
        return [_round(d) for d in self.http.call("GET", f"/sweeps/{self._id(sweep_id)}/rounds")]

    def study_storage_url(self) -> str:
        raise InvalidInput(
            "a sweep's Optuna study lives in the metadata database, which a stackml server does "
            "not lend out: point STACKML_TRACKING_URI at that database (for example "
            "postgresql+psycopg://user@host/db) to create, run or join sweeps; the server's "
            "API and web UI still show them"
        )
