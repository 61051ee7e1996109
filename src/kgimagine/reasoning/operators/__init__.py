"""Operators: whatever takes one imagination step. LLM operators (``local``, ``openai_compat``)
are imported lazily by name so that importing this package stays light."""

from kgimagine.reasoning.operators.base import Operator
from kgimagine.reasoning.operators.scripted import ScriptedOperator
from kgimagine.reasoning.operators.statistical import StatisticalOperator

__all__ = ["Operator", "ScriptedOperator", "StatisticalOperator"]
