"""Shared fixtures: one tiny synthetic dataset, one tiny trained checkpoint (via the CLI), one export."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TRAINER_DIR = Path(__file__).resolve().parents[1]

os.environ.setdefault("JAX_PLATFORMS", "cpu")
from captionflow_trainer.compile_cache import enable_compile_cache  # noqa: E402

enable_compile_cache()


def run_cli(*args: str, check: bool = True, env: dict[str, str] | None = None) -> tuple[int, list[dict], str]:
    """Run `python -m captionflow_trainer ARGS` (with `env` added to the environment); return (exit code, stdout JSON events, stderr)."""
    proc = subprocess.run(
        [sys.executable, "-m", "captionflow_trainer", *args], cwd=TRAINER_DIR, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(TRAINER_DIR), **(env or {})}, timeout=600,
    )
    # The protocol: every stdout line is one JSON object.
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr[-4000:]}")
    return proc.returncode, events, proc.stderr


@pytest.fixture(scope="session")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from captionflow_trainer.synthetic import make_dataset

    return make_dataset(tmp_path_factory.mktemp("data"), 120, size=64, seed=3)


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory, dataset: Path) -> tuple[Path, list[dict]]:
    out = tmp_path_factory.mktemp("ckpt") / "tiny"
    _, events, _ = run_cli("train", "--manifest", str(dataset), "--out", str(out), "--config", "tiny", "--epochs", "2", "--seed", "5")
    return out, events


@pytest.fixture(scope="session")
def exported(tmp_path_factory: pytest.TempPathFactory, trained: tuple[Path, list[dict]]) -> tuple[Path, list[dict]]:
    out = tmp_path_factory.mktemp("onnx")
    _, events, _ = run_cli("export", "--checkpoint", str(trained[0]), "--out", str(out))
    return out, events
