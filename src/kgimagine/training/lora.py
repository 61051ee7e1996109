"""LoRA with peft: wrap a causal LM, save a plain PEFT adapter folder, reload it safely.

The folder ``save_adapter`` writes loads with ``PeftModel.from_pretrained(base, folder)`` (and
with ``kgimagine.local_models.load_causal_lm(base, adapter=folder)``); ``kgimagine-manifest.json``
beside it records the base model's name and *fingerprint* (architecture + a sample of the
embedding weights), so ``load_adapter`` refuses an adapter trained on another base with an
``AdapterMismatchError`` before peft would fail on shapes or, worse, load silently.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Sequence

from pydantic import BaseModel, ConfigDict, Field

from kgimagine.errors import AdapterMismatchError, TrainingError
from kgimagine.training.manifest import MANIFEST_FILE, read_manifest

DEFAULT_TARGET_MODULES: tuple[str, ...] = ("q_proj", "v_proj")
_FINGERPRINT_KEYS = ("model_type", "vocab_size", "hidden_size", "num_hidden_layers",
                     "num_attention_heads", "num_key_value_heads", "intermediate_size")


class LoraSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    rank: int = Field(8, ge=1, le=1024)
    alpha: int = Field(16, ge=1)
    dropout: float = Field(0.05, ge=0.0, lt=1.0)
    target_modules: tuple[str, ...] = DEFAULT_TARGET_MODULES  # ("all-linear",) for every linear layer


def build_lora_model(model: Any, settings: LoraSettings) -> Any:
    """``model`` wrapped in a fresh LoRA adapter (only the adapter weights train)."""
    from peft import LoraConfig, get_peft_model

    targets: str | list[str] = list(settings.target_modules)
    if targets == ["all-linear"]:
        targets = "all-linear"
    cfg = LoraConfig(r=settings.rank, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                     target_modules=targets, bias="none", task_type="CAUSAL_LM")
    try:
        return get_peft_model(model, cfg)
    except ValueError as exc:
        raise TrainingError(
            f"cannot apply LoRA to modules {settings.target_modules}: {str(exc).splitlines()[0][:200]}; "
            "pick module names of this model (e.g. q_proj,v_proj) or all-linear"
        ) from exc


def _unwrap(model: Any) -> Any:
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def base_fingerprint(model: Any) -> str:
    """Identifies a base model: its architecture and a strided sample of its input embeddings
    (rounded to bf16, so fp32 and bf16 loads of one base agree). Same for a merged model whose
    LoRA did not touch the embeddings."""
    import torch

    base = _unwrap(model)
    cfg = base.config.to_dict()
    h = hashlib.sha256(json.dumps({k: cfg.get(k) for k in _FINGERPRINT_KEYS}, sort_keys=True).encode())
    with torch.no_grad():
        w = base.get_input_embeddings().weight.detach().flatten()
        sample = w[:: max(1, w.numel() // 4096)][:4096].to(torch.bfloat16).to(torch.float32).cpu()
    h.update(sample.numpy().tobytes())
    return h.hexdigest()[:16]


def trainable_parameters(model: Any) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total


def lora_state(model: Any) -> dict[str, Any]:
    """A CPU copy of the LoRA weights (to compare before/after training)."""
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items() if "lora_" in k}


def save_adapter(model: Any, out_dir: str | Path, *, base_path: str | Path) -> Path:
    """Write the PEFT adapter folder (adapter_config.json + adapter_model.safetensors), naming
    the base by its local folder (so peft never looks it up on a model hub)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.peft_config["default"].base_model_name_or_path = str(Path(base_path).resolve())
    model.save_pretrained(str(out), safe_serialization=True, save_embedding_layers=False)
    return out


def check_adapter(adapter_dir: str | Path, base_model: Any) -> None:
    """``AdapterMismatchError`` when the adapter's manifest names another base fingerprint."""
    adapter_dir = Path(adapter_dir)
    if not (adapter_dir / "adapter_config.json").is_file():
        raise TrainingError(f"{adapter_dir} is not a PEFT adapter folder (no adapter_config.json)")
    if not (adapter_dir / MANIFEST_FILE).is_file():
        return  # a foreign PEFT adapter: peft's own shape checks are all we have
    manifest = read_manifest(adapter_dir)
    ours = base_fingerprint(base_model)
    if manifest.base_fingerprint != ours:
        raise AdapterMismatchError(
            f"adapter {adapter_dir} was trained on base {manifest.base_model!r} "
            f"({manifest.base_model_path or 'path unknown'}, fingerprint {manifest.base_fingerprint}), "
            f"but the given base has fingerprint {ours}; load it with its own base (--base "
            f"{manifest.base_model_path or manifest.base_model}) or retrain the adapter on this base"
        )


def load_adapter(base_model: Any, adapter_dir: str | Path, *, trainable: bool = False) -> Any:
    """``PeftModel`` of ``base_model`` with the adapter; refuses a mismatched base."""
    check_adapter(adapter_dir, base_model)
    from peft import PeftModel

    try:
        return PeftModel.from_pretrained(base_model, str(adapter_dir), is_trainable=trainable)
    except (RuntimeError, ValueError, KeyError) as exc:
        raise AdapterMismatchError(
            f"adapter {adapter_dir} does not fit this base model: {str(exc).splitlines()[0][:300]}"
        ) from exc


def parse_target_modules(text: str | Sequence[str]) -> tuple[str, ...]:
    items = text.split(",") if isinstance(text, str) else list(text)
    mods = tuple(m.strip() for m in items if m.strip())
    if not mods:
        raise TrainingError("target modules are empty; e.g. q_proj,v_proj or all-linear")
    return mods


__all__ = [
    "DEFAULT_TARGET_MODULES",
    "LoraSettings",
    "base_fingerprint",
    "build_lora_model",
    "check_adapter",
    "load_adapter",
    "lora_state",
    "parse_target_modules",
    "save_adapter",
    "trainable_parameters",
]
