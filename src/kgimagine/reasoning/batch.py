"""Resumable batches: finished predictions are appended to a JSONL file as they complete; a rerun
with the same file skips (and re-yields) them instead of recomputing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Iterable, Iterator, TypeVar

from pydantic import ValidationError

from kgimagine.errors import ReasoningError
from kgimagine.reasoning.spec import Prediction

T = TypeVar("T")


def read_finished(path: Path) -> dict[str, Prediction]:
    """Predictions already in ``path``, by key. A torn last line (a killed write) is dropped."""
    done: dict[str, Prediction] = {}
    if not path.is_file():
        return done
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    good = 0
    for i, line in enumerate(lines):
        if not line.strip():
            good += len(line)
            continue
        try:
            pred = Prediction.model_validate_json(line)
        except ValidationError as exc:
            if i == len(lines) - 1 and not line.endswith("\n"):
                break  # torn write at the end: drop it, the trial is redone
            raise ReasoningError(
                f"{path}:{i + 1} is not a prediction ({exc.errors()[0]['msg']}); "
                "use another --checkpoint file or delete this one"
            ) from None
        done[pred.key] = pred
        good += len(line)
    if good < sum(len(l) for l in lines):
        with open(path, "r+", encoding="utf-8") as fh:
            fh.truncate(good)
    return done


def run_resumable(
    items: Iterable[T],
    key: Callable[[T], str],
    predict: Callable[[T], Prediction],
    checkpoint_path: str | Path | None,
) -> Iterator[Prediction]:
    """Predict each item, yielding predictions in input order; with a checkpoint file, finished
    keys are read back instead of recomputed and each new prediction is appended (and flushed)
    before it is yielded, so an interrupted batch keeps everything it finished. Predictions with
    an ``error`` are yielded but not written, so a rerun retries them."""
    if checkpoint_path is None:
        for item in items:
            yield predict(item)
        return
    path = Path(checkpoint_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    done = read_finished(path)
    with open(path, "a", encoding="utf-8") as fh:
        for item in items:
            k = key(item)
            if k in done:
                yield done[k]
                continue
            pred = predict(item)
            if getattr(pred, "error", None):  # a failed item is reported, not kept: a rerun retries it
                yield pred
                continue
            fh.write(json.dumps(pred.model_dump(mode="json"), ensure_ascii=False) + "\n")
            fh.flush()
            done[k] = pred
            yield pred
