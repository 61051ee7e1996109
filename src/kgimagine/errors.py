"""Error hierarchy: one root, one branch per layer.

Messages name the bad value and, where there is one, the fix. The CLI turns any
``KgimagineError`` into a one-line message and exit code 1.
"""

from __future__ import annotations


class KgimagineError(Exception):
    """Root of every error kgimagine raises on purpose."""


class ConfigError(KgimagineError, ValueError):
    """A setting is missing or invalid."""


# --- graph layer -------------------------------------------------------------------------
class GraphStoreError(KgimagineError):
    """A graph store cannot do what was asked (unreachable server, bad auth, ...)."""


class SchemaError(GraphStoreError, ValueError):
    """A label, relation type or property is not allowed by the graph schema."""


class ProvenanceError(SchemaError):
    """An edge lacks required provenance."""


class QueryError(GraphStoreError, ValueError):
    """A graph query was asked wrongly (no hop, no relation type, an unknown direction, ...)."""


class NodeNotFoundError(GraphStoreError, KeyError):
    """A node id is not in the graph."""

    def __str__(self) -> str:  # KeyError quotes its message; we want plain text
        return str(self.args[0]) if self.args else "node not found"


class EdgeNotFoundError(GraphStoreError, KeyError):
    """A fact id is not in the graph."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "fact not found"


# --- loaders -----------------------------------------------------------------------------
class LoaderError(KgimagineError):
    """A source cannot be read (missing file, unusable format)."""


class SourceFileMissingError(LoaderError, FileNotFoundError):
    """A source file is missing; the message names the expected path and download address."""


class FileEncodingError(LoaderError, ValueError):
    """An input file is not UTF-8 text (binary, or another encoding); the message names the file."""


# --- reasoning ---------------------------------------------------------------------------
class ReasoningError(KgimagineError):
    """The reasoning layer cannot run."""


class SpecValidationError(ReasoningError, ValueError):
    """A trial spec or question is empty or contradictory; the message names the field."""


class OperatorError(ReasoningError):
    """An operator (LLM backend) failed in a way re-asking cannot fix."""


# --- training ----------------------------------------------------------------------------
class TrainingError(KgimagineError):
    """Training cannot run."""


class TraceFormatError(TrainingError, ValueError):
    """A trace file line does not match the schema."""


class AdapterMismatchError(TrainingError):
    """An adapter was trained on another base model."""


# --- evaluation --------------------------------------------------------------------------
class EvaluationError(KgimagineError):
    """Evaluation input is unusable (missing columns, ...)."""


class LeakageError(EvaluationError):
    """The leakage audit found evaluated outcomes where they must not be."""
