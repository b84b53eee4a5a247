"""Optional edge formats: ExecuTorch ``.pte`` (XNNPACK) and Core ML ``.mlpackage``.

Both need packages that are not stackml dependencies (``executorch``, ``coremltools``); without
them ``save`` raises ``InvalidInput`` saying what to install.

* ``executorch``: ``torch.export`` → ``to_edge_transform_and_lower`` with the XNNPACK
  partitioner → ``model.pte``, batch dimension dynamic up to ``max_batch`` (default 1024).
  Loaded back with ExecuTorch's Python runtime (``executorch.runtime``), which is a real
  on-device runtime built for the host: predictions here are what a phone computes.
* ``coreml``: ``torch.export`` → ``coremltools.convert`` (ML program) → ``model.mlpackage``.
  Conversion runs on Linux; running a Core ML model needs macOS or iOS, so ``load`` refuses
  on other systems.
"""

from __future__ import annotations

import contextlib
import io
import platform
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from stackml.errors import InvalidInput
from stackml.registry.formats._base import (
    ModelFiles,
    ModelFormat,
    file_hashes,
    prepare_feeds,
    safe_file,
    total_size,
    verify_files,
)
from stackml.registry.runtime import Predictor
from stackml.registry.signature import Signature

__all__ = ["CoreMLFormat", "ExecuTorchFormat", "ExecuTorchPredictor"]


def _exported(
    obj: Any, signature: Signature | None, example: Any, options: dict[str, Any], max_batch: int
) -> tuple[Any, Signature, list[str]]:
    import torch

    from stackml.registry.formats._torch_wrap import OutputWrapper, example_tensor
    from stackml.registry.formats.torch_formats import _require_module, _signature

    model = _require_module(obj)
    sig = _signature(model, signature, example, options)
    wrapper = OutputWrapper(model, classification=sig.task == "classification").eval()
    x = example_tensor(example, sig)
    batch = torch.export.Dim("batch", min=1, max=max_batch)
    program = torch.export.export(wrapper, (x,), dynamic_shapes={"x": {0: batch}})
    return program, sig, wrapper.names


class ExecuTorchPredictor(Predictor):
    """Runs a ``.pte`` program's ``forward`` with ExecuTorch's runtime (CPU, XNNPACK)."""

    runtime = "executorch"

    def __init__(
        self,
        path: Path,
        signature: Signature,
        *,
        output_names: list[str],
        size_bytes: int = 0,
        **kwargs: Any,
    ):
        super().__init__(signature, name=kwargs.get("name", ""), version=kwargs.get("version", 0))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the Python runtime is marked experimental
            from executorch.runtime import Runtime

            self.program = Runtime.get().load_program(str(path))
        self.output_names = output_names
        self.size_bytes = size_bytes

    def _run(self, inputs: np.ndarray | Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        feeds = prepare_feeds(self.signature, inputs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            method = self.program.load_method("forward")  # a method is not safe to share
            outs = method.execute([torch.from_numpy(feeds[t.name]) for t in self.signature.inputs])
        return {n: o.numpy() for n, o in zip(self.output_names, outs, strict=False)}

    def predict(self, inputs: np.ndarray | Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Every declared output by name."""
        outs = self._run(inputs)
        return {o.name: outs[o.name] for o in self.signature.outputs if o.name in outs}

    def embed(self, inputs: np.ndarray | Mapping[str, np.ndarray]) -> np.ndarray:
        """The ``embedding`` output."""
        if "embedding" not in self.output_names:
            raise NotImplementedError("this program has no embedding output")
        return self._run(inputs)["embedding"]


class ExecuTorchFormat(ModelFormat):
    """``model.pte`` for ExecuTorch (XNNPACK delegate). Options: ``max_batch``."""

    name = "executorch"
    filename = "model.pte"

    def save(
        self,
        obj: Any,
        dest_dir: Path,
        *,
        signature: Signature | None,
        example: np.ndarray | None,
        **options: Any,
    ) -> ModelFiles:
        try:
            from executorch.backends.xnnpack.partition.xnnpack_partitioner import (
                XnnpackPartitioner,
            )
            from executorch.exir import to_edge_transform_and_lower
        except ImportError as exc:
            raise InvalidInput("the executorch format needs: pip install executorch") from exc
        program, sig, names = _exported(
            obj, signature, example, options, int(options.get("max_batch", 1024))
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lowered = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])
            buffer = lowered.to_executorch().buffer
        dest_dir.mkdir(parents=True, exist_ok=True)
        (dest_dir / self.filename).write_bytes(buffer)
        meta = {"outputs": names, "signature": sig.to_dict(), "delegate": "xnnpack"}
        meta["hashes"] = file_hashes(dest_dir, (self.filename,))
        return ModelFiles(format=self.name, files=(self.filename,), meta=meta)

    def load(
        self, model_dir: Path, meta: Mapping[str, Any], signature: Signature, **kwargs: Any
    ) -> Predictor:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                import executorch.runtime  # noqa: F401
        except ImportError as exc:
            raise InvalidInput("loading a .pte model needs: pip install executorch") from exc
        verify_files(model_dir, meta)
        return ExecuTorchPredictor(
            safe_file(model_dir, self.filename),
            signature,
            output_names=list(meta.get("outputs", [])),
            size_bytes=total_size(model_dir, meta),
            **{k: kwargs[k] for k in ("name", "version") if k in kwargs},
        )


class CoreMLFormat(ModelFormat):
    """``model.mlpackage`` (Core ML ML program). Converts anywhere; runs on Apple systems."""

    name = "coreml"

    def save(
        self,
        obj: Any,
        dest_dir: Path,
        *,
        signature: Signature | None,
        example: np.ndarray | None,
        **options: Any,
    ) -> ModelFiles:
        try:
            import coremltools as ct
        except ImportError as exc:
            raise InvalidInput("the coreml format needs: pip install coremltools") from exc
        program, sig, names = _exported(
            obj, signature, example, options, int(options.get("max_batch", 1024))
        )
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            model = ct.convert(program.run_decompositions({}), convert_to="mlprogram")
        dest_dir.mkdir(parents=True, exist_ok=True)
        package = dest_dir / "model.mlpackage"
        model.save(str(package))
        files = tuple(
            sorted(str(p.relative_to(dest_dir)) for p in package.rglob("*") if p.is_file())
        )
        meta = {
            "outputs": names,
            "signature": sig.to_dict(),
            "coreml_outputs": [o.name for o in model.get_spec().description.output],
        }
        meta["hashes"] = file_hashes(dest_dir, files)
        return ModelFiles(format=self.name, files=files, meta=meta)

    def load(
        self, model_dir: Path, meta: Mapping[str, Any], signature: Signature, **kwargs: Any
    ) -> Predictor:
        raise InvalidInput(
            f"Core ML models run on macOS and iOS only (this is {platform.system()}); "
            f"use the onnx or ort version of this model here ({total_size(model_dir, meta)} "
            "bytes of Core ML files were found)"
        )
