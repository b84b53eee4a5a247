"""PyTorch formats: ``safetensors`` (weights + class reference), ``torchscript``, ``torch-export``.

Trust model:

* ``safetensors`` files hold tensors only; loading them runs no code from the file. The model
  is rebuilt by importing a **reference** to code already installed in the environment
  (``package.module:Class`` with JSON constructor keyword arguments, or a factory function).
  Without ``trust=True`` the reference must be an ``nn.Module`` subclass, a function inside
  the ``stackml`` package, or a function marked with :func:`model_factory`; anything else
  (say ``os:system``) is refused before it is called.
* ``torchscript`` archives are read by TorchScript's own loader, which rebuilds TorchScript
  code and tensors, not arbitrary Python objects.
* ``torch-export`` (``.pt2``): ``torch.export.load`` unpickles parts of the archive, so it is
  loaded only with ``trust=True``, like pickle.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from stackml.errors import InvalidInput
from stackml.registry.formats._base import (
    ModelFiles,
    ModelFormat,
    UntrustedModel,
    file_hashes,
    safe_file,
    total_size,
    verify_files,
)
from stackml.registry.formats._torch_wrap import (
    OutputWrapper,
    example_tensor,
    infer_signature,
    reference_of,
    resolve_reference,
)
from stackml.registry.signature import Signature
from stackml.registry.torch_runtime import TorchPredictor

__all__ = ["SafetensorsFormat", "TorchExportFormat", "TorchScriptFormat", "model_factory"]

F = TypeVar("F", bound=Callable[..., Any])
_FACTORY_MARK = "__stackml_model_factory__"


def model_factory(fn: F) -> F:
    """Mark a function that builds a model, so safetensors models may name it without trust."""
    setattr(fn, _FACTORY_MARK, True)
    return fn


def _require_module(obj: Any) -> Any:
    import torch

    if not isinstance(obj, torch.nn.Module):
        raise InvalidInput(f"this format saves torch.nn.Module models, not {type(obj).__name__}")
    return obj


def _signature(
    obj: Any, signature: Signature | None, example: np.ndarray | None, options: Mapping[str, Any]
) -> Signature:
    if signature is not None:
        return signature
    if example is None:
        raise InvalidInput("give a signature or an example batch to infer one from")
    return infer_signature(
        obj, example, task=options.get("task"), classes=options.get("classes"), embed=True
    )


def _wrapper(obj: Any, signature: Signature, embed: bool = True) -> OutputWrapper:
    wrapper = OutputWrapper(obj, classification=signature.task == "classification", embed=embed)
    return wrapper.eval()


def _common_meta(wrapper: OutputWrapper, signature: Signature) -> dict[str, Any]:
    return {
        "outputs": wrapper.names,
        "classification": wrapper.classification,
        "embedding": wrapper.mode is not None,
        "signature": signature.to_dict(),
    }


def _finish(fmt: str, dest: Path, files: tuple[str, ...], meta: dict[str, Any]) -> ModelFiles:
    meta["hashes"] = file_hashes(dest, files)
    return ModelFiles(format=fmt, files=files, meta=meta)


class SafetensorsFormat(ModelFormat):
    """``model.safetensors`` plus a class (or factory) reference and its keyword arguments.

    Options:
        factory: ``"package.module:function"`` that builds the model (e.g. for an
            ``nn.Sequential``); default the model's own class.
        kwargs: JSON keyword arguments for the class or factory.
    """

    name = "safetensors"

    def save(
        self,
        obj: Any,
        dest_dir: Path,
        *,
        signature: Signature | None,
        example: np.ndarray | None,
        **options: Any,
    ) -> ModelFiles:
        import torch
        from safetensors.torch import save_model

        model = _require_module(obj)
        factory = options.get("factory")
        if factory is not None:
            ref = factory if isinstance(factory, str) else reference_of(factory)
            resolve_reference(ref)
        else:
            if type(model) is torch.nn.Sequential:
                raise InvalidInput(
                    "an nn.Sequential has no class to rebuild it from: pass factory="
                    "'package.module:function' that returns it (or use onnx/torchscript)"
                )
            ref = reference_of(type(model))
        kwargs = dict(options.get("kwargs") or {})
        try:
            json.dumps(kwargs)
        except TypeError as exc:
            raise InvalidInput(f"constructor kwargs must be JSON values: {exc}") from exc
        sig = _signature(model, signature, example, options)
        dest_dir.mkdir(parents=True, exist_ok=True)
        save_model(model, str(dest_dir / "model.safetensors"))
        meta = _common_meta(_wrapper(model, sig), sig)
        meta.update(reference=ref, kwargs=kwargs)
        return _finish(self.name, dest_dir, ("model.safetensors",), meta)

    def load(
        self, model_dir: Path, meta: Mapping[str, Any], signature: Signature, **kwargs: Any
    ) -> TorchPredictor:
        import torch
        from safetensors.torch import load_model

        verify_files(model_dir, meta)
        ref = str(meta.get("reference", ""))
        target = resolve_reference(ref)
        is_module_class = isinstance(target, type) and issubclass(target, torch.nn.Module)
        allowed = (
            is_module_class or getattr(target, _FACTORY_MARK, False) or ref.startswith("stackml.")
        )
        if not allowed and not kwargs.get("trust"):
            raise UntrustedModel(
                f"the model names {ref!r}, which is neither an nn.Module class nor a marked "
                "model factory; calling it could run anything: load with trust=True if you "
                "trust this model's origin"
            )
        if isinstance(target, type) and not is_module_class:
            raise InvalidInput(f"{ref!r} is not a torch.nn.Module class")
        ctor_kwargs = meta.get("kwargs") or {}
        if not isinstance(ctor_kwargs, dict):
            raise InvalidInput("the model's constructor kwargs must be a JSON object")
        model = target(**ctor_kwargs)
        if not isinstance(model, torch.nn.Module):
            raise InvalidInput(f"{ref!r} did not build a torch.nn.Module")
        try:
            load_model(model, str(safe_file(model_dir, "model.safetensors")), strict=True)
        except (RuntimeError, KeyError) as exc:
            raise InvalidInput(f"the weights do not fit {ref!r}: {exc}") from exc
        wrapper = OutputWrapper(
            model,
            classification=bool(meta.get("classification")),
            embed=bool(meta.get("embedding")),
        )
        return TorchPredictor(
            wrapper,
            signature,
            output_names=wrapper.names,
            size_bytes=total_size(model_dir, meta),
            name=kwargs.get("name", ""),
            version=kwargs.get("version", 0),
        )


class TorchScriptFormat(ModelFormat):
    """``model.torchscript.pt``: the wrapped model traced with ``torch.jit.trace``.

    TorchScript is deprecated upstream in favour of ``torch.export``; it still loads without
    Python code and is kept for runtimes (LibTorch, older mobile) that read it.
    """

    name = "torchscript"
    filename = "model.torchscript.pt"

    def save(
        self,
        obj: Any,
        dest_dir: Path,
        *,
        signature: Signature | None,
        example: np.ndarray | None,
        **options: Any,
    ) -> ModelFiles:
        import torch

        model = _require_module(obj)
        sig = _signature(model, signature, example, options)
        wrapper = _wrapper(model, sig)
        x = example_tensor(example, sig)
        dest_dir.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")  # torch.jit's deprecation notice
            traced = torch.jit.trace(wrapper, x, check_trace=False)
            traced.save(str(dest_dir / self.filename))
        return _finish(self.name, dest_dir, (self.filename,), _common_meta(wrapper, sig))

    def load(
        self, model_dir: Path, meta: Mapping[str, Any], signature: Signature, **kwargs: Any
    ) -> TorchPredictor:
        import torch

        verify_files(model_dir, meta)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                module = torch.jit.load(
                    str(safe_file(model_dir, self.filename)), map_location="cpu"
                )
            except RuntimeError as exc:
                raise InvalidInput(f"not a TorchScript archive: {str(exc)[:200]}") from exc
        return TorchPredictor(
            module,
            signature,
            output_names=list(meta.get("outputs", [])),
            size_bytes=total_size(model_dir, meta),
            name=kwargs.get("name", ""),
            version=kwargs.get("version", 0),
        )


class TorchExportFormat(ModelFormat):
    """``model.pt2``: ``torch.export`` with a dynamic batch dimension. Loads with trust only."""

    name = "torch-export"
    needs_trust = True
    filename = "model.pt2"

    def save(
        self,
        obj: Any,
        dest_dir: Path,
        *,
        signature: Signature | None,
        example: np.ndarray | None,
        **options: Any,
    ) -> ModelFiles:
        import torch

        model = _require_module(obj)
        sig = _signature(model, signature, example, options)
        wrapper = _wrapper(model, sig)
        x = example_tensor(example, sig)
        dest_dir.mkdir(parents=True, exist_ok=True)
        program = torch.export.export(
            wrapper, (x,), dynamic_shapes={"x": {0: torch.export.Dim("batch", min=1)}}
        )
        torch.export.save(program, str(dest_dir / self.filename))
        return _finish(self.name, dest_dir, (self.filename,), _common_meta(wrapper, sig))

    def load(
        self, model_dir: Path, meta: Mapping[str, Any], signature: Signature, **kwargs: Any
    ) -> TorchPredictor:
        import torch

        if not kwargs.get("trust"):
            raise UntrustedModel(
                "torch.export archives (.pt2) are unpickled when they load, which can run code: "
                "load with trust=True if you trust this model's origin, or use onnx/safetensors"
            )
        verify_files(model_dir, meta)
        program = torch.export.load(str(safe_file(model_dir, self.filename)))
        return TorchPredictor(
            program.module(),
            signature,
            output_names=list(meta.get("outputs", [])),
            size_bytes=total_size(model_dir, meta),
            name=kwargs.get("name", ""),
            version=kwargs.get("version", 0),
        )
