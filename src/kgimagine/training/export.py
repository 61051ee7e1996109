"""Merge a LoRA adapter into its base: a plain Hugging Face model folder (safetensors).

``merge_adapter`` loads the base the adapter's manifest names (or the one given), refuses a
mismatched base (``AdapterMismatchError``), applies ``merge_and_unload`` and writes model +
tokenizer + the adapter manifest (as ``kgimagine-merged-from.json``) to ``out_dir``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from kgimagine.errors import TrainingError
from kgimagine.training.lora import load_adapter
from kgimagine.training.manifest import MANIFEST_FILE, read_manifest

MERGED_FROM_FILE = "kgimagine-merged-from.json"


def resolve_base_dir(adapter_dir: str | Path, base_dir: str | Path | None = None) -> Path:
    """The base folder to use: ``base_dir`` if given, else the path the adapter manifest records."""
    if base_dir is not None:
        return Path(base_dir)
    manifest = read_manifest(adapter_dir)
    path = Path(manifest.base_model_path) if manifest.base_model_path else None
    if path is None or not (path / "config.json").is_file():
        raise TrainingError(
            f"the base model of {adapter_dir} ({manifest.base_model!r} at {manifest.base_model_path or '?'}) "
            "is not on this machine; pass --base DIR"
        )
    return path


def merge_adapter(adapter_dir: str | Path, out_dir: str | Path, *, base_dir: str | Path | None = None) -> Path:
    """Write base + adapter merged into one model folder; returns ``out_dir``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    adapter_dir, out = Path(adapter_dir), Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise TrainingError(f"output folder {out} is not empty; choose a new --out or delete it")
    base = resolve_base_dir(adapter_dir, base_dir)
    try:
        model = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(str(base))
    except (OSError, ValueError) as exc:
        raise TrainingError(f"cannot load base model from {base}: {exc}") from exc
    peft_model = load_adapter(model, adapter_dir)
    merged = peft_model.merge_and_unload()
    out.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(str(out), safe_serialization=True)
    tokenizer.save_pretrained(str(out))
    if (adapter_dir / MANIFEST_FILE).is_file():
        shutil.copyfile(adapter_dir / MANIFEST_FILE, out / MERGED_FROM_FILE)
    return out


__all__ = ["MERGED_FROM_FILE", "merge_adapter", "resolve_base_dir"]
