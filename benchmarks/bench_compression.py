"""Compression on a model of realistic size, the tiny quickstart CNN beside it.

Models (trained here on scikit-learn's digits, 8x8 images, 1,297 train / 500 test rows):

* **wide MLP** 64 → 1024 → 1024 → 10 (about 1.1M parameters), the realistic model;
* the quickstart's **digits CNN** (about 20k parameters), reported honestly: on it int8
  saves little and per-call overhead dominates.

For each: eager PyTorch fp32 (the peer a user would otherwise run), ONNX Runtime fp32 through
stackml's predictor, int8 dynamic and int8 static (QDQ, per channel, calibrated on the train
split) through ONNX Runtime. On the MLP also: 50% magnitude pruning with one epoch of
fine-tuning, and a distilled student (64 → 128 → 128 → 10) trained on the teacher's soft
targets. Latencies are medians of rounds of ``--repeats`` calls (p50 of each round), the
engines interleaved round by round on the same rows, so background load hits them alike.

Usage: python benchmarks/bench_compression.py [--repeats 100] [--rounds 3] [--threads 2]
The last line compares eager PyTorch fp32 with stackml's int8 model at batch 32.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

CLASSES = [str(i) for i in range(10)]


def _data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], y[order]
    return x[:-500], y[:-500], x[-500:], y[-500:]


def wide_mlp(width: int = 1024) -> Any:
    from torch import nn

    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(64, width),
        nn.ReLU(),
        nn.Linear(width, width),
        nn.ReLU(),
        nn.Linear(width, 10),
    )


def student_mlp() -> Any:
    from torch import nn

    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(64, 128),
        nn.ReLU(),
        nn.Linear(128, 128),
        nn.ReLU(),
        nn.Linear(128, 10),
    )


def train(model: Any, x: np.ndarray, y: np.ndarray, epochs: int, lr: float) -> Any:
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from stackml.training import Trainer

    loader = DataLoader(
        TensorDataset(torch.from_numpy(x), torch.from_numpy(y)),
        batch_size=64,
        shuffle=True,
        generator=torch.Generator().manual_seed(0),
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=lr, total_steps=epochs * len(loader)
    )
    Trainer(model, optimizer=optimizer, scheduler=schedule, max_epochs=epochs, device="cpu").fit(
        loader
    )
    return model.eval()


def n_params(model: Any) -> int:
    return sum(p.numel() for p in model.parameters())


class Eager:
    """The peer: the model called directly in eager PyTorch, fp32, under inference_mode.

    ``flush_denormals`` sets ``torch.set_flush_denormal(True)`` around the call: trained
    weights produce denormal floats that slow x86 float units a lot, and a careful user would
    turn this on, so the peer figure is the faster of the two.
    """

    def __init__(self, model: Any, *, flush_denormals: bool = False) -> None:
        self.model = model.eval()
        self.flush = flush_denormals

    def predict(self, x: np.ndarray) -> dict[str, np.ndarray]:
        import torch

        if self.flush:
            torch.set_flush_denormal(True)
        try:
            with torch.inference_mode():
                return {"logits": self.model(torch.from_numpy(x)).numpy()}
        finally:
            if self.flush:
                torch.set_flush_denormal(False)


def acc(engine: Any, x: np.ndarray, y: np.ndarray) -> float:
    return float((engine.predict(x)["logits"].argmax(1) == y).mean())


def timings(
    engines: dict[str, Any], x: np.ndarray, repeats: int, rounds: int
) -> dict[str, dict[int, float]]:
    """Median over rounds of each engine's p50 (ms) at batch 1 and 32, interleaved."""
    out: dict[str, dict[int, list[float]]] = {k: {1: [], 32: []} for k in engines}
    for _ in range(rounds):
        for batch in (1, 32):
            for name, engine in engines.items():
                rows = [x[(i * batch) % (len(x) - batch) :][:batch] for i in range(repeats + 5)]
                times = []
                for i, chunk in enumerate(rows):
                    start = time.perf_counter()
                    engine.predict(chunk)
                    if i >= 5:
                        times.append((time.perf_counter() - start) * 1e3)
                out[name][batch].append(float(np.percentile(times, 50)))
    return {k: {b: statistics.median(v) for b, v in per.items()} for k, per in out.items()}


def _best_eager(t: dict[str, dict[int, float]], batch: int) -> float:
    return min(t["eager torch fp32"][batch], t["eager fp32 FTZ"][batch])


def quantized_variants(
    model: Any, folder: Path, x_train: np.ndarray, x_test: np.ndarray, threads: int
) -> dict[str, Any]:
    """stackml engines: ONNX fp32, int8 dynamic, int8 static; plus their file sizes."""
    from stackml.registry.compression import quantize_dynamic, quantize_static
    from stackml.registry.formats import load_predictor, save_model

    files = save_model(
        model,
        folder / "fp32",
        format="onnx",
        example=x_test[:8],
        classes=CLASSES,
        parity_data=x_test,
    )
    fp32 = load_predictor("onnx", folder / "fp32", files.meta, threads=threads)
    sig = fp32.signature
    quantize_dynamic(folder / "fp32" / "model.onnx", folder / "dyn" / "model.onnx")
    quantize_static(folder / "fp32" / "model.onnx", folder / "static" / "model.onnx", x_train[:512])
    engines = {
        "onnx fp32": fp32,
        "int8 dynamic": load_predictor("onnx", folder / "dyn", {}, sig, threads=threads),
        "int8 static": load_predictor("onnx", folder / "static", {}, sig, threads=threads),
    }
    sizes = {
        "onnx fp32": (folder / "fp32" / "model.onnx").stat().st_size,
        "int8 dynamic": (folder / "dyn" / "model.onnx").stat().st_size,
        "int8 static": (folder / "static" / "model.onnx").stat().st_size,
    }
    return {"engines": engines, "sizes": sizes, "parity": files.meta["parity"]}


def report(
    title: str, model: Any, data: tuple[np.ndarray, ...], args: argparse.Namespace, tmp: Path
) -> dict[str, Any]:
    x_train, _, x_test, y_test = data
    q = quantized_variants(model, tmp, x_train, x_test, args.threads)
    engines = {
        "eager torch fp32": Eager(model),
        "eager fp32 FTZ": Eager(model, flush_denormals=True),
        **q["engines"],
    }
    t = timings(engines, x_test, args.repeats, args.rounds)
    base_size = q["sizes"]["onnx fp32"]
    base_acc = acc(engines["eager torch fp32"], x_test, y_test)
    print(
        f"\n== {title}: {n_params(model):,} parameters; "
        f"ONNX parity max |diff| {q['parity']['max_abs_diff']:.1e}"
    )
    print(
        f"{'engine':<18}{'size':>11}{'smaller':>9}{'p50 @1 ms':>11}{'p50 @32 ms':>12}"
        f"{'accuracy':>10}{'Δ pts':>8}"
    )
    for name, engine in engines.items():
        size = q["sizes"].get(name, base_size)
        a = acc(engine, x_test, y_test)
        print(
            f"{name:<18}{size / 1024:>8.0f} KiB{base_size / size:>8.1f}x"
            f"{t[name][1]:>11.3f}{t[name][32]:>12.3f}"
            f"{a:>10.4f}{(a - base_acc) * 100:>+8.2f}"
        )
    return {"t": t, "sizes": q["sizes"], "base_acc": base_acc, "engines": engines}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=12)
    args = parser.parse_args()

    import torch

    from stackml.quickstart.stages.cnn import digits_cnn
    from stackml.registry.compression import distill, fine_tuner, prune

    torch.set_num_threads(args.threads)
    data = _data()
    x_train, y_train, x_test, y_test = data
    started = time.perf_counter()
    torch.manual_seed(0)
    mlp = train(wide_mlp(), x_train, y_train, args.epochs, 1e-3)
    torch.manual_seed(0)
    cnn = train(digits_cnn(), x_train, y_train, 30, 3e-3)
    print(f"trained both models in {time.perf_counter() - started:.1f} s ({args.threads} threads)")
    with tempfile.TemporaryDirectory() as tmp:
        big = report("wide MLP (realistic size)", mlp, data, args, Path(tmp) / "mlp")
        report("quickstart digits CNN (tiny)", cnn, data, args, Path(tmp) / "cnn")

    base_acc = big["base_acc"]
    pruned = prune(mlp, 0.5, fine_tune=fine_tuner((x_train, y_train), epochs=1, lr=1e-4))
    pruned_acc = acc(Eager(pruned.model), x_test, y_test)
    torch.manual_seed(0)
    student = student_mlp()
    distill(mlp, student, (x_train, y_train), epochs=args.epochs, lr=3e-3)
    student_acc = acc(Eager(student), x_test, y_test)
    print(f"\n== wide MLP: pruning and distillation (teacher accuracy {base_acc:.4f})")
    print(
        f"prune 50% + 1 epoch fine-tune: sparsity {pruned.sparsity:.3f}, accuracy {pruned_acc:.4f} "
        f"({(pruned_acc - base_acc) * 100:+.2f} pts; target ≥ -1)"
    )
    ratio = n_params(student) / n_params(mlp)
    print(
        f"distilled student: {n_params(student):,} parameters ({ratio:.3f} of the teacher; "
        f"target ≤ 0.25), accuracy {student_acc:.4f} = {student_acc / base_acc * 100:.1f}% of "
        "the teacher (target ≥ 97%)"
    )
    t, sizes = big["t"], big["sizes"]
    best = min(("int8 dynamic", "int8 static"), key=lambda k: t[k][32])
    int8_acc = acc(big["engines"][best], x_test, y_test)
    print(
        f"\ntargets on the wide MLP ({best}): {sizes['onnx fp32'] / sizes[best]:.1f}x smaller "
        f"(≥ 3), {t['onnx fp32'][32] / t[best][32]:.2f}x faster than ONNX fp32 and "
        f"{_best_eager(t, 32) / t[best][32]:.2f}x faster than the faster eager fp32 at batch 32 "
        "(≥ 1.5), "
        f"{(int8_acc - base_acc) * 100:+.2f} pts accuracy (≥ -0.5); ONNX Runtime fp32 vs the "
        f"faster eager: {_best_eager(t, 1) / t['onnx fp32'][1]:.2f}x at batch 1, "
        f"{_best_eager(t, 32) / t['onnx fp32'][32]:.2f}x at batch 32 (≥ 1)"
    )
    eager = min(("eager torch fp32", "eager fp32 FTZ"), key=lambda k: t[k][32])
    peer, ours = t[eager][32], t[best][32]
    print(
        f"batch-32 p50 latency, wide MLP: {eager} (peer) {peer:.3f} ms vs stackml "
        f"{best} on ONNX Runtime {ours:.3f} ms: {peer / ours:.2f}x"
    )


if __name__ == "__main__":
    main()
