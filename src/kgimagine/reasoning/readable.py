"""The readable form of a prediction, shared by ``kgimagine predict`` and LangGraph Studio.

Per trial: the probability, then per anchor one line per step (verdict mark, factor, anchor value
-> target value, probability move, the one to three facts that moved it or why the step was
excluded), and one provenance footer listing each cited source once. The CLI colours these pieces;
the state machine stores the plain lines (``ReasoningState.readable``) so Studio shows the same
chain as the terminal.
"""

from __future__ import annotations

import re
from typing import Any

from kgimagine.reasoning.aggregate import logit, sigmoid
from kgimagine.traces import strip_provenance

MARK = {"supported": "✓", "unsupported": "✗", "refuted": "✗✗"}


def statement(fact: Any) -> str:
    """What a fact states, without its provenance group."""
    return strip_provenance(fact.text)


def moving_facts(step: Any) -> list[Any]:
    """The one to three facts that moved the step: its claims with the step's direction first."""
    by_id = {f.fact_id: f for f in step.facts}
    lead = [c for c in step.claims if c.role == step.direction] or list(step.claims)
    ids = list(dict.fromkeys(fid for c in lead for fid in c.facts))[:3]
    return [by_id[i] for i in ids if i in by_id]


def facts_against(step: Any) -> list[Any]:
    """The facts a moving step cites with the other role (evidence against its move; the learned
    operator cites the strongest one), at most one."""
    if step.direction not in ("up", "down"):
        return []
    by_id = {f.fact_id: f for f in step.facts}
    other = "down" if step.direction == "up" else "up"
    ids = list(dict.fromkeys(fid for c in step.claims if c.role == other for fid in c.facts))[:1]
    return [by_id[i] for i in ids if i in by_id]


def values(text: str) -> str:
    """A step value without its bracketed ids ("Imatinib [drugbank:DB00619]" -> "Imatinib"), each
    name once (two ids may carry the same name)."""
    text = re.sub(r"^eligibility of (?:clinicaltrials:)?(NCT\d+|the new trial): .*$", r"criteria of \1", text.strip())
    text = re.sub(r"\s*\[[a-z][a-z0-9_.]*:[^\]]+\]", "", text).strip()
    return ", ".join(dict.fromkeys(part.strip() for part in text.split(", ")))


def side_of(fact: Any, target_ids: set[str], anchor_ids: set[str]) -> str:
    """The side of the step whose entity the fact touches: "target" or "anchor" (an entity only
    that side has), "kept" (only entities both sides have, e.g. a failed trial of a drug the two
    trials share: it weighs more or less once its partners change), "" (both sides, or neither)."""
    ends = {fact.subject, fact.object}
    kept = target_ids & anchor_ids
    t, a = bool(ends & (target_ids - kept)), bool(ends & (anchor_ids - kept))
    if t != a:
        return "target" if t else "anchor"
    return "kept" if not t and ends & kept else ""


def sources(pred: Any, *, every_fact: bool = False) -> list[str]:
    """Each source of the facts shown (cited ones unless ``every_fact``), once: "name version (licence)"."""
    seen: dict[tuple[str, str, str], None] = {}
    for chain in pred.chains:
        for s in chain.steps:
            facts = s.facts if every_fact else [f for f in s.facts if f.fact_id in set(s.cited)]
            for f in facts:
                if f.source:
                    seen.setdefault((f.source, f.source_version.split(" ")[0], f.licence), None)
    return [f"{src} {ver} ({lic})".replace("  ", " ") if lic else f"{src} {ver}".strip() for src, ver, lic in seen]


def step_parts(step: Any, width: int) -> tuple[str, str, str, str, str]:
    """(mark, factor, change, move, detail) of one step line; ``detail`` is the facts that moved
    it or, for an excluded step, "<verdict>: <reason>"."""
    room = max(16, min(40, width // 4))
    change = change_text(values(step.anchor_value), values(step.target_value), room)
    if step.supported:
        from kgimagine.kg.queries import find_ids

        ids = set(find_ids(step.target_value)), set(find_ids(step.anchor_value))  # once per step
        def shown(facts: list[Any]) -> str:
            said: dict[str, int] = {}  # one statement cited from two sources reads once, "(2 sources)"
            for f in facts:
                text = f"({side}) {statement(f)}" if (side := side_of(f, *ids)) else statement(f)
                said[text] = said.get(text, 0) + 1
            return "; ".join(t if n == 1 else f"{t} ({n} sources)" for t, n in said.items())

        against = facts_against(step)
        detail = shown(moving_facts(step)[: 2 if against else 3]) or "(no fact)"
        if against:
            detail += "; against: " + shown(against)
    else:
        reason = (step.reason or step.error or "").split("; ")[0]
        reason = reason.split(": ", 1)[1] if reason.startswith("claim ") and ": " in reason else reason
        detail = f"{step.verdict}: {reason}"
    return (MARK.get(step.verdict, "?"), f"{step.factor.value:<10}", f"{change:<{room}}",
            f"{step.p_after - step.p_before:+.2f}", detail)


def change_text(before: str, after: str, room: int) -> str:
    """What the step changes, in ``room`` characters. Names on both sides are left out, so the
    line shows the change itself: ``"edoxaban → dabigatran (not in graph)"`` for a swap beside a
    kept drug, ``"+ Enoxaparin"`` for a name only the target adds, ``"− lung cancer"`` for one it
    drops; sides with nothing in common show whole (``_change``). The step's full values stay in
    ``--json`` and ``--explain full``."""
    a, t = _names(before), _names(after)
    kept = {n.lower() for n in a} & {n.lower() for n in t}
    if not kept or not before or not after:
        return _change(before, after, room)
    gone = ", ".join(n for n in a if n.lower() not in kept)
    new = ", ".join(n for n in t if n.lower() not in kept)
    if gone and new:
        return _change(gone, new, room)
    if gone or new:
        return _cut(f"− {gone}" if gone else f"+ {new}", room)
    return _change(before, after, room)  # same names, different nodes: show both sides


def _names(text: str) -> list[str]:
    """The names of a ``values`` text, each once. A name's own comma ("Diphtheria, Tetanus ...")
    is split too; both sides split the same way, so the comparison is not affected."""
    return list(dict.fromkeys(part.strip() for part in text.split(", ") if part.strip()))


def _change(before: str, after: str, room: int) -> str:
    """``"before → after"`` in ``room`` characters: a long side is cut (…), the shorter side is
    kept whole when it fits in half, so the arrow and the target's side always show."""
    full = f"{before} → {after}"
    if len(full) <= room:
        return full
    space = room - 3  # " → "
    half = space // 2
    if len(before) <= half:
        return f"{before} → {_cut(after, space - len(before))}"
    if len(after) <= half:
        return f"{_cut(before, space - len(after))} → {after}"
    return f"{_cut(before, half)} → {_cut(after, space - half)}"


def head_lines(pred: Any) -> list[str]:
    """The title line and the grounding line."""
    title = pred.nct_id or pred.question_id or pred.key
    if pred.question_type == "superiority":
        head = "; ".join(f"P({c.arm_a} > {c.arm_b}) = {c.probability:.3f}" for c in pred.comparisons)
    else:
        # the threshold beside the label: a label of 1 at P = 0.36 reads as an error without it
        cut = f" (threshold {pred.threshold:.2f})" if getattr(pred, "threshold", None) is not None else ""
        head = f"P(success) = {pred.probability:.3f} → label {pred.label}{cut}"
    g = "n/a" if pred.grounding_rate is None else f"{pred.grounding_rate:.0%}"
    return [f"{title}  {head}",
            f"  grounded {pred.steps_supported}/{pred.steps_total} steps ({g}) · {pred.operator} · {pred.aggregate_method}"]


def anchor_line(chain: Any) -> str:
    ctx = f" [{chain.context}]" if chain.context else ""
    outcome = "succeeded" if chain.anchor_label else "failed"
    head = f"anchor {chain.anchor_id.split(':', 1)[-1]}{ctx} ({outcome}, similarity {chain.similarity:.2f}): "
    unstated = getattr(chain, "unstated", 0.0)
    if abs(unstated) > 1e-12:
        stepped = sigmoid(logit(chain.p_end) - unstated)
        return head + f"p {chain.p_start:.2f} → {stepped:.2f} → {chain.p_end:.2f} (priors no fact states)"
    return head + f"p {chain.p_start:.2f} → {chain.p_end:.2f}"


def _cut(line: str, width: int) -> str:
    return line if len(line) <= width else line[: width - 1] + "…"


def lines(pred: Any, *, width: int = 100) -> list[str]:
    """The short readable form as plain lines of at most ``width`` characters (Studio's view)."""
    out = [_cut(line, width) for line in head_lines(pred)]
    out += [_cut(f"  ! {flag}", width) for flag in pred.flags]
    for chain in pred.chains:
        out.append(_cut(anchor_line(chain), width))
        for s in chain.steps:
            mark, factor, change, move, detail = step_parts(s, width)
            out.append(_cut(f"  {mark:<2} {factor} {change} {move}  {detail}", width))
    src = sources(pred)
    if src:
        out.append(_cut("sources: " + " · ".join(src), width))
    return out
