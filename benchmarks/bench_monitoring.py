"""Data drift on 1,000,000 x 20 numeric columns (3 shifted): stackml against Evidently and SciPy.

The same reference (1M rows) and current (1M rows) go through:

* **stackml** - the reference is sketched once (what a monitor stores when it is created; timed
  apart), then one window is checked: Wasserstein (normed by the reference's standard
  deviation, threshold 0.1, Evidently's default test for columns over 1,000 rows) and
  Kolmogorov-Smirnov, with the Benjamini-Hochberg correction, vectorised over the sketches.
* **Evidently** ``DataDriftPreset`` on the same data as pandas frames (it picks normed
  Wasserstein at 0.1 for these columns), from the ``bench`` extra (which keeps pandas below 3:
  Evidently 0.7 does not import with pandas 3).
* **SciPy loops** - ``scipy.stats.ks_2samp`` and ``wasserstein_distance`` column by column on
  the raw arrays, to show where the time goes.

The decisions per column of every tool are printed and compared; the last line gives the
figures and the ratios.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np


def _data(
    rows: int, cols: int, shifted: int, seed: int
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    ref = {f"x{i}": rng.normal(0.0, 1.0 + i / 20, rows) for i in range(cols)}
    cur = {
        f"x{i}": rng.normal(0.5 if i < shifted else 0.0, 1.0 + i / 20, rows) for i in range(cols)
    }
    return ref, cur


def _stackml(
    ref: dict[str, np.ndarray], cur: dict[str, np.ndarray]
) -> tuple[float, float, float, list[str]]:
    import pyarrow as pa

    import stackml.data.schema  # noqa: F401  (imported before the clock starts)
    from stackml.monitoring import MonitorSpec, Reference, evaluate_window

    started = time.perf_counter()
    reference = Reference.from_table(pa.table(ref))
    sketch_s = time.perf_counter() - started
    table = pa.table(cur)
    spec_w = MonitorSpec("bench", numeric_tests=("wasserstein",))
    started = time.perf_counter()
    report = evaluate_window(table, reference, spec_w)
    check_s = time.perf_counter() - started
    spec_both = MonitorSpec("bench", numeric_tests=("wasserstein", "ks"))
    started = time.perf_counter()
    evaluate_window(table, reference, spec_both)
    both_s = time.perf_counter() - started
    return sketch_s, check_s, both_s, sorted(report.drifted_features)


def _scipy(
    ref: dict[str, np.ndarray], cur: dict[str, np.ndarray]
) -> tuple[float, float, list[str]]:
    from scipy import stats

    started = time.perf_counter()
    drifted = []
    for name in ref:
        distance = stats.wasserstein_distance(ref[name], cur[name]) / np.std(ref[name])
        if distance >= 0.1:
            drifted.append(name)
    wasserstein_s = time.perf_counter() - started
    started = time.perf_counter()
    for name in ref:
        stats.ks_2samp(ref[name], cur[name], method="asymp")
    ks_s = time.perf_counter() - started
    return wasserstein_s, ks_s, sorted(drifted)


def _evidently(
    ref: dict[str, np.ndarray], cur: dict[str, np.ndarray]
) -> tuple[float, list[str]] | str:
    try:
        import pandas as pd
        from evidently import Report
        from evidently.presets import DataDriftPreset
    except Exception as exc:  # not installed, or incompatible with this pandas
        return f"{type(exc).__name__}: {exc}"
    ref_df, cur_df = pd.DataFrame(ref), pd.DataFrame(cur)
    started = time.perf_counter()
    snapshot = Report([DataDriftPreset()]).run(current_data=cur_df, reference_data=ref_df)
    result: Any = snapshot.dict()
    seconds = time.perf_counter() - started
    drifted = []
    for metric in result.get("metrics", []):
        config = metric.get("config", {})
        if not str(config.get("type", "")).endswith("ValueDrift"):
            continue
        value, threshold = float(metric["value"]), float(config.get("threshold", 0.1))
        p_value = "p_value" in str(config.get("method", "")).lower()
        if (value < threshold) if p_value else (value >= threshold):
            drifted.append(str(config["column"]))
    return seconds, sorted(drifted)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--cols", type=int, default=20)
    parser.add_argument("--shifted", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    ref, cur = _data(args.rows, args.cols, args.shifted, args.seed)
    sketch_s, check_s, both_s, sm_drift = _stackml(ref, cur)
    print(
        f"stackml: reference sketched once in {sketch_s:.2f} s; check (wasserstein) "
        f"{check_s:.2f} s; "
        f"wasserstein + ks {both_s:.2f} s; drifted {sm_drift}"
    )
    w_s, ks_s, sp_drift = _scipy(ref, cur)
    print(f"scipy loops: wasserstein {w_s:.2f} s, ks_2samp {ks_s:.2f} s; drifted {sp_drift}")
    ev = _evidently(ref, cur)
    if isinstance(ev, str):
        print(f"evidently: not run ({ev})")
        ev_part = "Evidently not run"
    else:
        ev_s, ev_drift = ev
        same = "same" if ev_drift == sm_drift else f"DIFFERENT ({ev_drift})"
        print(f"evidently DataDriftPreset: {ev_s:.2f} s; drifted {ev_drift}")
        ev_part = f"Evidently {ev_s:.2f} s ({ev_s / check_s:.1f}x, {same} decisions)"
    print(
        f"{args.rows:,} x {args.cols} drift check: stackml {check_s:.2f} s "
        f"(KS too {both_s:.2f} s); "
        f"{ev_part}; SciPy loops {w_s + ks_s:.2f} s ({(w_s + ks_s) / both_s:.1f}x, "
        f"{'same' if sp_drift == sm_drift else 'DIFFERENT'} decisions)"
    )


if __name__ == "__main__":
    main()
