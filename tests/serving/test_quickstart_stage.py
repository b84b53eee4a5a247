"""The quickstart's serving stage: the promoted model is served, clean then shifted traffic goes
through HTTP, and the logged predictions (with true labels on the side) stay for monitoring."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.compute as pc

from stackml.quickstart.context import QuickstartContext
from stackml.quickstart.stage import StageResult
from stackml.quickstart.stages.serving import DEPLOYMENT, ServingStage
from stackml.serving import read_prediction_tensors, read_predictions


def test_serving_stage_serves_the_promoted_model(tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    import stackml
    from stackml.registry import log_model, set_alias

    stackml.tracking.reset()
    ctx = QuickstartContext(workdir=tmp_path)
    digits = ctx.digits()
    with stackml.start_run(
        project="digits", tracking_uri=ctx.tracking_uri, capture_environment=False
    ) as run:
        model = LogisticRegression(max_iter=500).fit(digits.x_train, digits.y_train)
        log_model(
            run,
            model,
            "model",
            format="sklearn-onnx",
            example=digits.x_train[:4].astype(np.float32),
            classes=[str(i) for i in range(10)],
            register_as="digits",
        )
    set_alias("digits@1", "production", store=ctx.store)
    ctx.results["registry"] = StageResult(
        "registered", details={"model": "digits", "candidate": "digits@1"}
    )
    result = ServingStage().run(ctx)
    try:
        assert result.details["model_ref"] == "digits@production"
        assert result.details["page"] == f"/deployments/{DEPLOYMENT}"
        truth = json.loads(Path(result.details["truth"]).read_text())
        requests = int(result.metrics["requests"])
        assert len(truth) == requests == len(digits.y_val) + len(digits.y_test) // 2
        assert result.metrics["logged"] == requests
        assert result.metrics["clean_accuracy"] > 0.85
        assert result.metrics["shifted_accuracy"] < result.metrics["clean_accuracy"]
        table = read_predictions(ctx.store, DEPLOYMENT)
        assert table.num_rows == requests and set(table["request_id"].to_pylist()) == set(truth)
        assert set(table["version"].to_pylist()) == {1}
        sample = table.filter(pc.is_valid(table["input_row"])).slice(0, 5)
        assert read_prediction_tensors(ctx.store, sample).shape == (5, 64)
        deployment = ctx.store.metadata.get_deployment(DEPLOYMENT)
        assert deployment.metrics["requests_total"] >= requests - 50
    finally:
        stackml.tracking.reset()
