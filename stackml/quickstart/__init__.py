"""The quickstart: the whole stackml loop, end to end, on data that ships with scikit-learn.

It runs an ordered list of :class:`Stage` objects over one shared :class:`QuickstartContext`;
each capability of stackml contributes a stage in :mod:`stackml.quickstart.stages`.

::

    from stackml.quickstart import run_quickstart

    report = run_quickstart("stackml-quickstart")
    print(report.results["baseline"].headline)
"""

from __future__ import annotations

from stackml.quickstart.context import QuickstartContext
from stackml.quickstart.runner import QuickstartReport, run_quickstart, summary_table
from stackml.quickstart.stage import Stage, StageResult
from stackml.quickstart.stages import default_stages

__all__ = [
    "QuickstartContext",
    "QuickstartReport",
    "Stage",
    "StageResult",
    "default_stages",
    "run_quickstart",
    "summary_table",
]
