"""A serving process over the test MLP, for tests that need a real process and signals.

Usage: ``python -m tests.serving.serve_process PORT [DELAY_SECONDS]``.
"""

from __future__ import annotations

import sys

from stackml.serving import BatchPolicy, EndpointSpec, ServingOptions, ServingServer
from tests.serving.helpers import MlpPredictor


def main() -> None:
    port = int(sys.argv[1])
    delay = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
    model = MlpPredictor(seed=5, delay=delay)
    options = ServingOptions(
        policy=BatchPolicy(max_batch_rows=64, max_wait_ms=2, slo_ms=200, max_queue_rows=100_000),
        drain_seconds=10,
    )
    server = ServingServer(
        [EndpointSpec("digits@prod")], lambda ref: model, options=options, port=port
    )
    server.run()


if __name__ == "__main__":
    main()
