"""The quickstart's stages, one module each, in the order :func:`default_stages` runs them."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stackml.quickstart.stage import Stage


def default_stages() -> list[Stage]:
    """Every stage stackml ships, in order. Later stages may read earlier results."""
    from stackml.quickstart.stages.baseline import BaselineStage
    from stackml.quickstart.stages.check import CheckStage, ReadinessStage
    from stackml.quickstart.stages.cnn import CnnStage
    from stackml.quickstart.stages.datasets import DatasetsStage
    from stackml.quickstart.stages.flywheel import FlywheelStage
    from stackml.quickstart.stages.job import JobStage
    from stackml.quickstart.stages.labeling import LabelingStage
    from stackml.quickstart.stages.monitoring import MonitoringStage
    from stackml.quickstart.stages.pipeline import PipelineStage
    from stackml.quickstart.stages.registry import RegistryStage
    from stackml.quickstart.stages.serving import ServingStage
    from stackml.quickstart.stages.sweep import SweepStage

    return [
        DatasetsStage(),
        BaselineStage(),
        CnnStage(),
        JobStage(),
        PipelineStage(),
        SweepStage(),
        RegistryStage(),
        CheckStage(),
        ServingStage(),
        MonitoringStage(),
        LabelingStage(),
        FlywheelStage(),
        ReadinessStage(),
    ]
