"""``kgimagine-manifest.json``: what an adapter was trained from and how it went.

Written next to the PEFT files of every adapter folder: base model (name, path, fingerprint),
data files with their hashes, graph versions, the training config, metrics and the loss curve.
``plot_loss_curve`` draws the curve as a PNG (matplotlib, imported lazily, Agg backend).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kgimagine.errors import TrainingError

MANIFEST_FILE = "kgimagine-manifest.json"
LOSS_CURVE_FILE = "loss_curve.png"
MANIFEST_FORMAT = "kgimagine-adapter"
MANIFEST_VERSION = 1


class TrainManifest(BaseModel):
    model_config = ConfigDict(frozen=True)

    format: str = MANIFEST_FORMAT
    format_version: int = MANIFEST_VERSION
    base_model: str  # name the base answers to (e.g. SmolLM2-135M-Instruct)
    base_model_path: str = ""
    base_fingerprint: str  # architecture + weight sample hash, see lora.base_fingerprint
    data_files: list[dict[str, Any]] = Field(default_factory=list)
    data_hash: str = ""
    graph_versions: list[str] = Field(default_factory=list)
    splits: list[str] = Field(default_factory=list)
    config: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    loss_curve: list[tuple[int, float]] = Field(default_factory=list)
    created_at: str = Field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    versions: dict[str, str] = Field(default_factory=dict)


def write_manifest(adapter_dir: str | Path, manifest: TrainManifest) -> Path:
    path = Path(adapter_dir) / MANIFEST_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return path


def read_manifest(adapter_dir: str | Path) -> TrainManifest:
    path = Path(adapter_dir) / MANIFEST_FILE
    if not path.is_file():
        raise TrainingError(
            f"{adapter_dir} has no {MANIFEST_FILE}; it was not written by `kgimagine train sft` "
            "(pass --base explicitly, or retrain)"
        )
    try:
        return TrainManifest.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, ValidationError) as exc:
        raise TrainingError(f"{path} is not a valid adapter manifest: {str(exc).splitlines()[0]}") from exc


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("kgimagine", "torch", "transformers", "peft", "accelerate"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def plot_loss_curve(curve: list[tuple[int, float]], path: str | Path, *, title: str = "LoRA SFT loss") -> Path:
    """Save the (step, loss) curve as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    if curve:
        steps, losses = zip(*curve)
        ax.plot(steps, losses, marker="." if len(curve) < 60 else None, linewidth=1.2)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (assistant tokens)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


__all__ = ["LOSS_CURVE_FILE", "MANIFEST_FILE", "TrainManifest", "plot_loss_curve", "read_manifest", "write_manifest"]
