"""The deterministic verifier: does a step answer say what its cited facts say? No model involved.

Per claim a verdict — ``supported``, ``unsupported`` or ``refuted`` — with the reason:

(a) citations: every fact id of the claim was retrieved for this step (and, given a store, is in
    the graph); the facts of a multi-fact claim form a path (consecutive facts share an end);
(b) names: every entity the rationale names — matched against the names, synonyms and ids of the
    graph (``NameIndex``) — is an end node of a cited fact; a name-like word that is no entity and
    appears nowhere in the step (an invented name such as ``TDKY``) is unsupported too, and a
    rationale that names no cited entity at all ("no", "no one") says nothing checkable;
(c) relations: a relation the rationale states between entities ("X targets G", "X treats D",
    "D is associated with G") must be a cited fact between them with that type;
(d) direction: a claim's role (up / down) must agree with the sign of its facts under what the
    facts say to a reader (``traces.rule_fact_signs``, by fact type: a succeeded trial of the
    target's drug points up, a gene association alone points nowhere) and, when the operator has
    ``fact_signs(step)``, under the operator's own model too (a model weight never makes a fact
    say what it does not); the
    step's direction must agree with its probability move and be backed by a claim of that role,
    and at least one cited fact must touch the entities the step changes;
(e) contradictions: a rationale that negates a cited fact ("X does not target G" while the fact is
    X TARGETS G) or states the opposite outcome of a cited trial is refuted.

A problem in the rationale makes every claim of the step unsupported (the rationale is the
claims' explanation); a contradiction refutes the claims that cite the contradicted fact. A step is
supported when it has at least one claim and every claim is supported.

The verifier runs from a ``StepInput`` (its facts carry their edge ids and types) plus a
``NameIndex``: built once per store (``NameIndex.from_store``, ~0.3 s for 50k nodes) or from a few
records (``NameIndex.from_records``), so a checked-in set of steps needs no graph.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from kgimagine.kg.store import GraphStore
from kgimagine.traces import (
    CheckedClaim,
    ClaimVerdict,
    FactRef,
    StepAnswer,
    StepInput,
    Verdict,
    ids_in,
    parse_step_answer,
    rule_fact_signs,
    step_sides,
)

#: A step whose probability moves by at most this much has direction "none".
NO_MOVE = 0.005

_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9'+\-]*")

#: Common words that are never entity mentions (some are drug aliases or disease names in the
#: graph, e.g. "cancer", "pain"), and that are not name-like when capitalised.
STOP_WORDS = frozenset("""
a about above across after again against all also although an and another any are as at be because
been before being below between both but by can cannot could did do does doing done down during each
either else even every few for from further had has have having he her here hers his how however i if
in into is it its itself just less many may might more most much must my neither no nor not now of
off on once one only or other our out over own per same she should since so some still such than that
the their them then there these they this those though through thus to too under until up upon very
was we were what when where whether which while who whom whose why will with within without would yet
you your new old higher lower high low raise raises raised lower lowers lowered rise fall increase
increases decrease decreases change changes changing changed estimate probability chance success
successful succeeded succeed fail failed failure failures outcome outcomes result results evidence
support supports supported suggest suggests shared share shares common same similar mechanism
mechanisms pathway pathways target targets targeted targeting gene genes protein proteins receptor
drug drugs disease diseases trial trials study studies phase population endpoint dose arm record
records known unknown indication indications indicated approved treatment treatments therapy therapies
patients patient clinical graph fact facts side effect effects adverse event events label labelled
first second third prior previous anchor context direction none positive negative neutral likely
unlikely better worse good bad benefit risk risks safety efficacy response responses tumor tumour
tumors cancer cancers carcinoma neoplasm disorder syndrome pain death infection fever inflammation
condition conditions therapy treat treats treated associated association linked link subclass kind
type form both neither several various multiple different another related relevant because therefore
yes ok okay effective efficacious toxic toxicity activity active inactive given overall moreover
furthermore additionally hence switching replacing swapping moving compared unlike like based according
note here it this we advanced stage primary metastatic chronic acute severe mild moderate adult adults
children healthy normal standard combination placebo control group oral injection tablet daily weekly
""".split())

#: Relation vocabulary (never a name, even in capitals).
_REL_WORDS = frozenset({
    "TARGETS", "TREATS", "PALLIATES", "CAUSES", "TESTS", "STUDIES", "SUBCLASS_OF", "SAME_AS",
    "APPROVED_FOR", "TRIALLED_FOR", "ASSOCIATED_WITH", "NCT", "DNA", "RNA", "FDA", "II", "III", "IV",
})
_DRUG_SUFFIX = re.compile(
    r"(mab|tinib|ciclib|parib|rafenib|platin|taxel|rubicin|vastatin|cillin|mycin|olol|pril|sartan|"
    r"azole|parin|lukast|oxacin|vudine|navir|previr|tide|stim|ximab|zumab|umab|lisib|degib|fenib)$"
)

_INDICATIONS = frozenset({"TREATS", "PALLIATES", "APPROVED_FOR"})
#: Phrases stating a relation -> the relation types that make it true.
_RELATION_PHRASES: tuple[tuple[re.Pattern[str], frozenset[str]], ...] = tuple(
    (re.compile(p), frozenset(types))
    for p, types in (
        (r"\bASSOCIATED_WITH\b|\b[Aa]ssociated with\b", {"ASSOCIATED_WITH"}),
        (r"\bSUBCLASS_OF\b|\bSAME_AS\b|\b(?:[Ii]s )?(?:a )?(?:subclass|kind|type|form) of\b|\bsame as\b",
         {"SUBCLASS_OF", "SAME_AS"}),
        (r"\bAPPROVED_FOR\b|\bTREATS\b|\bPALLIATES\b|\b(?:[Ii]s )?(?:indicated|approved) for\b|\b(?:treats|treat|palliates)\b",
         _INDICATIONS),
        (r"\bTRIALLED_FOR\b|\btrialled for\b", {"TRIALLED_FOR"}),
        (r"\bTARGETS\b|\b(?:targets|target|inhibits|inhibit|binds to|binds|bind to|bind|acts on)\b", {"TARGETS"}),
        (r"\bCAUSES\b|\b(?:causes|cause)\b", {"CAUSES"}),
        (r"\bTESTS\b|\b(?:tests|tested)\b", {"TESTS"}),
        (r"\bSTUDIES\b|\b(?:studies|studied)\b", {"STUDIES"}),
    )
)
_REL_ORDER = ("TARGETS", "TREATS", "ASSOCIATED_WITH", "SUBCLASS_OF", "SAME_AS", "CAUSES", "TESTS", "STUDIES",
              "TRIALLED_FOR", "PALLIATES", "APPROVED_FOR")
_NEGATION = re.compile(r"\b(?:not|no|never|neither|nor|cannot|doesn't|don't|didn't|isn't|aren't|wasn't|fails? to|without)\s*$",
                       re.I)
_SUCCESS = re.compile(r"\b(?:succeeded|succeeds|succeed|successful|successfully|success|positive|met (?:its|the) (?:primary )?endpoint)\b", re.I)
_FAILURE = re.compile(r"\b(?:failed|fails|fail|failure|unsuccessful|negative|terminated)\b", re.I)
_NEG_WORD = re.compile(r"\b(?:not|no|never|didn't|did not)\b", re.I)
_CLAUSE = re.compile(r"[;.!?\n]+\s*")
_SKIP_BEFORE_OBJECT = frozenset({"the", "a", "an", "gene", "genes", "protein", "its", "both", "also", "to"})
#: Which end labels a relation statement may join (subject labels, object labels).
_SIGNATURE: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "TARGETS": (frozenset({"Drug"}), frozenset({"Gene"})),
    "ASSOCIATED_WITH": (frozenset({"Disease"}), frozenset({"Gene"})),
    "CAUSES": (frozenset({"Drug"}), frozenset({"SideEffect"})),
    "TESTS": (frozenset({"Trial"}), frozenset({"Drug"})),
    "STUDIES": (frozenset({"Trial"}), frozenset({"Disease"})),
    "SUBCLASS_OF": (frozenset({"Disease"}), frozenset({"Disease"})),
    "SAME_AS": (frozenset({"Disease"}), frozenset({"Disease"})),
    **{r: (frozenset({"Drug"}), frozenset({"Disease"})) for r in ("TREATS", "PALLIATES", "APPROVED_FOR", "TRIALLED_FOR")},
}


# -- the name index ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Mention:
    """A stretch of text that names graph entities (several ids when the name is ambiguous)."""

    start: int  # character offsets in the text
    end: int
    surface: str
    ids: frozenset[str]


def _tokens(text: str) -> list[tuple[str, int, int]]:
    out = []
    for m in _TOKEN.finditer(text or ""):
        tok = m.group(0).rstrip("-'+")
        if tok:
            out.append((tok, m.start(), m.start() + len(tok)))
    return out


class NameIndex:
    """Names, synonyms and ids of graph entities -> entity ids, to find the entities a text names.

    Gene symbols and short names (< 5 characters) match with their exact case ("KIT", not "kit");
    longer names and synonyms case-insensitively; common words (``STOP_WORDS``) never match. Ids
    written as CURIEs always match."""

    def __init__(self, records: Iterable[Mapping[str, Any]] = ()) -> None:
        self._exact: dict[tuple[str, ...], set[str]] = {}
        self._lower: dict[tuple[str, ...], set[str]] = {}
        self._names: dict[str, str] = {}
        self._labels: dict[str, str] = {}
        self._max = 1
        for r in records:
            self.add(str(r["id"]), str(r.get("label", "")), str(r.get("name") or r["id"]), r.get("synonyms") or ())

    def add(self, node_id: str, label: str, name: str, synonyms: Iterable[str] = ()) -> None:
        self._names.setdefault(node_id, name)
        self._labels.setdefault(node_id, label)
        for text in dict.fromkeys([name, *synonyms]):
            toks = tuple(t for t, _, _ in _tokens(str(text)))
            if not toks or len(toks) > 12:
                continue
            if label == "Gene" or (len(toks) == 1 and len(toks[0]) < 5):
                if len(toks) == 1 and not any(c.isupper() or c.isdigit() for c in toks[0]):
                    continue  # a short lowercase alias ("ice", "body") is a word, not a name
                self._exact.setdefault(toks, set()).add(node_id)
            else:
                low = tuple(t.lower() for t in toks)
                if all(t in STOP_WORDS for t in low):
                    continue
                self._lower.setdefault(low, set()).add(node_id)
            self._max = max(self._max, len(toks))

    @classmethod
    def from_store(cls, store: GraphStore) -> "NameIndex":
        """Every node's name, ``aliases`` and id (one pass over the nodes)."""
        idx = cls()
        for node in store.iter_nodes():
            aliases = node.properties.get("aliases") or []
            idx.add(node.id, node.label.value, node.name or node.id, aliases if isinstance(aliases, list) else [])
        return idx

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any]]) -> "NameIndex":
        """From ``{"id", "label", "name", "synonyms"}`` records (a small index shipped with data)."""
        return cls(records)

    def __len__(self) -> int:
        return len(self._names)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._names

    def name(self, node_id: str) -> str:
        return self._names.get(node_id, node_id)

    def label(self, node_id: str) -> str:
        return self._labels.get(node_id, _label_from_prefix(node_id))

    def mentions(self, text: str) -> list[Mention]:
        """The entities ``text`` names, left to right, longest match first; CURIEs included."""
        out: list[Mention] = []
        taken: list[tuple[int, int]] = []
        for m in re.finditer(r"\b(?:drugbank|ncbigene|mondo|doid|umls|clinicaltrials|drugcentral|kgimagine\.drug|kgimagine\.disease):[A-Za-z0-9_.\-]+", text or ""):
            cid = m.group(0).rstrip(".-")
            out.append(Mention(m.start(), m.start() + len(cid), cid, frozenset({cid})))
            taken.append((m.start(), m.start() + len(cid)))
        toks = [t for t in _tokens(text) if not any(a <= t[1] < b for a, b in taken)]
        i = 0
        while i < len(toks):
            for n in range(min(self._max, len(toks) - i), 0, -1):
                window = toks[i:i + n]
                if n > 1 and re.search(r"[;.!?]", text[window[0][2]:window[-1][1]]):
                    continue  # a name does not run across a sentence break
                key = tuple(t for t, _, _ in window)
                ids = self._exact.get(key) or self._lower.get(tuple(t.lower() for t in key))
                if ids:
                    s, e = window[0][1], window[-1][2]
                    out.append(Mention(s, e, text[s:e], frozenset(ids)))
                    i += n
                    break
            else:
                i += 1
        out.sort(key=lambda m: m.start)
        return out


def _label_from_prefix(node_id: str) -> str:
    prefix = node_id.split(":", 1)[0]
    return {"drugbank": "Drug", "drugcentral": "Drug", "kgimagine.drug": "Drug", "ncbigene": "Gene",
            "mondo": "Disease", "doid": "Disease", "kgimagine.disease": "Disease", "umls": "SideEffect",
            "clinicaltrials": "Trial"}.get(prefix, "")


def looks_like_name(token: str, *, sentence_start: bool) -> bool:
    """A word that, not being a known entity, reads as an (invented) name: a code mixing letters
    and digits, a word in capitals, a drug-like suffix, or a capitalised word mid-sentence."""
    if token.upper() in _REL_WORDS or token.upper().replace("-", "_") in _REL_WORDS:
        return False
    if re.fullmatch(r"\d+[a-zA-Z]?|[a-zA-Z]?\d+|\d+(?:-\d+)*", token):
        return False  # numbers, "2b", "5-10"
    if re.search(r"\d", token) and re.search(r"[A-Za-z]", token):
        return True
    if token.isupper() and len(token) >= 2:
        return True
    low = token.lower()
    if low in STOP_WORDS:
        return False
    if len(token) >= 6 and _DRUG_SUFFIX.search(low):
        return True
    return token[:1].isupper() and not sentence_start


# -- verification -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Verification:
    answer: StepAnswer | None  # None when the output could not be parsed
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    supported: bool = False
    reason: str = ""  # why the answer is refused ("" when supported); fed back on a re-ask
    claims: tuple[CheckedClaim, ...] = ()
    verdict: ClaimVerdict = "unsupported"


def verify_citations(cited: Iterable[str], retrieved: Iterable[str], store: GraphStore | None) -> dict[str, Verdict]:
    """Per cited id: ``unknown_fact`` (not in the graph), ``not_retrieved`` (not shown in this step)
    or ``verified``. Without a store, a retrieved fact counts as in the graph (it came from it)."""
    cited = list(dict.fromkeys(cited))
    shown = set(retrieved)
    existing: Mapping[str, Any] = store.get_edges(cited) if (store is not None and cited) else {}
    out: dict[str, Verdict] = {}
    for fid in cited:
        if store is not None and fid not in existing:
            out[fid] = "unknown_fact"
        elif fid not in shown:
            out[fid] = "not_retrieved" if store is not None else "unknown_fact"
        else:
            out[fid] = "verified"
    return out


@dataclass
class _Issues:
    step: list[str] = field(default_factory=list)  # rationale / direction / relevance problems
    refuted: dict[str, str] = field(default_factory=dict)  # fact id -> contradiction


def _is_path(facts: Sequence[FactRef]) -> bool:
    for a, b in zip(facts, facts[1:]):
        if not {a.subject, a.object} & {b.subject, b.object}:
            return False
    return True


def _step_words(step: StepInput) -> set[str]:
    texts = [step.anchor_value, step.target_value, step.anchor_summary, step.target_summary]
    texts += [f.text for f in step.facts]
    return {t.lower() for text in texts for t, _, _ in _tokens(text)}


def _clauses(text: str) -> list[tuple[int, int]]:
    out, start = [], 0
    for m in _CLAUSE.finditer(text):
        out.append((start, m.start()))
        start = m.end()
    out.append((start, len(text)))
    return [(a, b) for a, b in out if b > a]


def _check_rationale(
    text: str, step: StepInput, cited: list[FactRef], names: NameIndex, issues: _Issues
) -> None:
    ends = {x for f in cited for x in (f.subject, f.object) if x}
    mentions = names.mentions(text)
    # (b) every named entity is an end of a cited fact
    for m in mentions:
        if not m.ids & ends:
            what = f"{m.surface!r}" + (f" ({sorted(m.ids)[0]})" if m.surface not in m.ids else "")
            issues.step.append(f"the rationale names {what}, which no cited fact has as an end")
    if text and not any(m.ids & ends for m in mentions):
        issues.step.append(f"the rationale {text[:40]!r} names none of the cited facts' entities")
    # invented names: name-like words that are no entity and appear nowhere in the step
    covered = [(m.start, m.end) for m in mentions]
    known = _step_words(step)
    for tok, s, e in _tokens(text):
        if any(a <= s < b for a, b in covered) or tok.lower() in known:
            continue
        before = text[:s].rstrip()
        if looks_like_name(tok, sentence_start=not before or before[-1] in ".;:!?("):
            issues.step.append(f"the rationale names {tok!r}, which is not an entity of the graph")
    # (c) relations and (e) negations, clause by clause
    for a, b in _clauses(text):
        _check_relations(text, a, b, [m for m in mentions if a <= m.start < b], cited, names, issues, known)
        _check_outcomes(text, a, b, [m for m in mentions if a <= m.start < b], cited, issues)


def _compatible(m: Mention, labels: frozenset[str], names: NameIndex) -> bool:
    return any(names.label(i) in labels for i in m.ids)


def _check_relations(
    text: str, a: int, b: int, mentions: list[Mention], cited: list[FactRef], names: NameIndex, issues: _Issues,
    known: set[str],
) -> None:
    clause = text[a:b]
    spans = [(m.start - a, m.end - a) for m in mentions]
    for pattern, types in _RELATION_PHRASES:
        for hit in pattern.finditer(clause):
            if any(s <= hit.start() < e for s, e in spans):
                continue  # the word is part of a name
            word = hit.group(0).upper()
            rel = word if word in types else next(r for r in _REL_ORDER if r in types)
            subj_labels, obj_labels = _SIGNATURE[rel]
            after = [m for m in mentions if m.start - a >= hit.end()]
            obj = after[0] if after else None
            gap = clause[hit.end(): obj.start - a] if obj else clause[hit.end():]
            gap_words = [t for t, _, _ in _tokens(gap)]
            if obj is None or any(w.lower() not in _SKIP_BEFORE_OBJECT for w in gap_words):
                odd = [w for w in gap_words if looks_like_name(w, sentence_start=False)]
                if odd:
                    issues.step.append(
                        f"the rationale states {rel} with {' '.join(odd)!r}, which is not an entity of the cited facts"
                    )
                continue  # not a statement between two named entities
            before = [m for m in mentions if m.end - a <= hit.start() and _compatible(m, subj_labels, names)]
            subj = before[-1] if before else None
            if subj is None:  # "Zorbex targets KIT": a subject that reads as a name but is no entity
                lead = [t for t, _, _ in _tokens(clause[: hit.start()])
                        if t.lower() not in known and looks_like_name(t, sentence_start=False)]
                if lead:
                    issues.step.append(f"the rationale states {rel} of {' '.join(lead)!r}, which is not an entity "
                                       "of the cited facts")
                    continue
            negated = bool(_NEGATION.search(clause[(subj.end - a) if subj else 0: hit.start()]))
            match = [
                f for f in cited
                if f.relation in types and (f.subject in obj.ids or f.object in obj.ids)
                and (subj is None or f.subject in subj.ids or f.object in subj.ids)
            ]
            said = f"{subj.surface + ' ' if subj else ''}{hit.group(0)} {obj.surface}"
            if negated:
                if match:
                    for f in match:
                        issues.refuted[f.fact_id] = f"the rationale says {clause[:80]!r}, but the fact states {f.text}"
                else:
                    issues.step.append(f"the rationale denies {said!r}, which no cited fact bears on")
            elif not match:
                other = [f for f in cited if subj is not None and {f.subject, f.object} & subj.ids
                         and {f.subject, f.object} & obj.ids]
                hint = f" (the cited fact between them is {other[0].relation})" if other else ""
                issues.step.append(f"the rationale states {said!r}, but no cited fact is {rel} between them{hint}")


def _check_outcomes(text: str, a: int, b: int, mentions: list[Mention], cited: list[FactRef], issues: _Issues) -> None:
    # outcome words inside a name ("heart failure") are part of the name, not a statement
    clause = text[a:b]
    for m in mentions:
        s, e = m.start - a, m.end - a
        clause = clause[:s] + " " * (e - s) + clause[e:]
    succ, fail = _SUCCESS.search(clause), _FAILURE.search(clause)
    if not succ and not fail:
        return
    stated = 1 if succ and not fail else 0 if fail and not succ else None
    if stated is None:
        return  # both words: too loose to check
    hit = succ or fail
    assert hit is not None
    if _NEG_WORD.search(clause[max(0, hit.start() - 12): hit.start()]):
        stated = 1 - stated
    named = {i for m in mentions for i in m.ids}
    trials = [f for f in cited if f.outcome is not None and f.relation in ("TESTS", "STUDIES")]
    about = [f for f in trials if f.subject in named] or [f for f in trials if f.object in named]
    if not about:
        if named:
            issues.step.append(f"the rationale states an outcome ({hit.group(0)!r}) that no cited trial fact shows")
        return
    if all(f.outcome != stated for f in about):
        for f in about:
            issues.refuted[f.fact_id] = f"the rationale says {hit.group(0)!r}, but the fact states {f.text}"


def verify_step(
    answer: StepAnswer,
    step: StepInput,
    names: NameIndex,
    *,
    store: GraphStore | None = None,
    fact_signs: Mapping[str, float] | None = None,
) -> Verification:
    """Check a parsed answer against its step (see the module docstring for the rules)."""
    by_id = {f.fact_id: f for f in step.facts}
    verdicts = verify_citations(answer.cited, list(by_id), store)
    reading = rule_fact_signs(step)
    signs = dict(fact_signs) if fact_signs is not None else reading
    issues = _Issues()
    cited = [by_id[i] for i in answer.cited if i in by_id]
    # (d) the step: relevance, direction against the move and the claims
    A, T = step_sides(step)
    if cited and A | T and not any({f.subject, f.object} & (A | T) for f in cited):
        issues.step.append(f"no cited fact touches the changed {step.factor.value} ({', '.join(sorted(A | T))})")
    move = answer.probability - step.p_before
    moved = "up" if move > NO_MOVE else "down" if move < -NO_MOVE else "none"
    if answer.direction != moved:
        issues.step.append(
            f"direction {answer.direction!r} but the probability moves {step.p_before:.3f} -> {answer.probability:.3f}"
        )
    elif moved != "none" and not any(c.role == moved for c in answer.claims):
        issues.step.append(f"direction {moved!r} but no claim supports {moved!r}")
    _check_rationale(answer.rationale, step, cited, names, issues)
    # per claim
    checked: list[CheckedClaim] = []
    for c in answer.claims:
        bad = [f"{fid} ({verdicts[fid].replace('_', ' ')})" for fid in c.facts if verdicts.get(fid) != "verified"]
        facts = [by_id[f] for f in c.facts if f in by_id]
        sign = sum(signs.get(f, 0.0) for f in c.facts)
        read = sum(reading.get(f, 0.0) for f in c.facts)
        verdict: ClaimVerdict = "supported"
        reason = ""
        refuted = [issues.refuted[f] for f in c.facts if f in issues.refuted]
        if bad:
            verdict, reason = "unsupported", f"cites facts not given for this step: {', '.join(bad)}"
        elif refuted:
            verdict, reason = "refuted", refuted[0]
        elif len(facts) > 1 and not _is_path(facts):
            verdict, reason = "unsupported", "its facts do not form a path (consecutive facts share no entity)"
        elif c.role == "up" and sign <= 0 or c.role == "down" and sign >= 0:
            verdict = "unsupported"
            reason = f"role {c.role!r} but the evidence sign of its facts is {sign:+.2f}"
        elif c.role == "up" and read <= 0 or c.role == "down" and read >= 0:
            verdict = "unsupported"
            points = "up" if read > 0 else "down" if read < 0 else "neither way"
            reason = f"role {c.role!r} but what its facts state points {points}"
        elif issues.step:
            verdict, reason = "unsupported", issues.step[0]
        elif issues.refuted:
            verdict, reason = "unsupported", "the rationale contradicts another cited fact"
        checked.append(CheckedClaim(facts=list(c.facts), role=c.role, verdict=verdict, reason=reason))
    problems = [f"claim {i + 1} {c.verdict}: {c.reason}" for i, c in enumerate(checked) if c.verdict != "supported"]
    if not checked:
        problems.insert(0, "the answer has no claim; cite at least one fact id from the list")
    problems += [p for p in issues.step if all(p not in q for q in problems)]
    supported = bool(checked) and all(c.verdict == "supported" for c in checked)
    step_verdict: ClaimVerdict = (
        "refuted" if any(c.verdict == "refuted" for c in checked) else "supported" if supported else "unsupported"
    )
    return Verification(answer, verdicts, supported, "" if supported else "; ".join(dict.fromkeys(problems)),
                        tuple(checked), step_verdict)


def verify_answer(
    raw: str,
    step: StepInput,
    names: NameIndex,
    *,
    store: GraphStore | None = None,
    fact_signs: Mapping[str, float] | None = None,
) -> Verification:
    """Parse and check one operator answer."""
    try:
        answer = parse_step_answer(raw)
    except ValueError as exc:
        return Verification(None, {}, False, f"unparsable answer: {exc}")
    return verify_step(answer, step, names, store=store, fact_signs=fact_signs)


def operator_fact_signs(operator: Any, step: StepInput) -> dict[str, float] | None:
    """The operator's own evidence signs for the step's facts, or None when it has no model
    (the verifier then uses ``traces.rule_fact_signs``)."""
    fn = getattr(operator, "fact_signs", None)
    signs = fn(step) if callable(fn) else None
    return None if signs is None else dict(signs)


__all__ = [
    "Mention",
    "NameIndex",
    "Verification",
    "ids_in",
    "looks_like_name",
    "operator_fact_signs",
    "verify_answer",
    "verify_citations",
    "verify_step",
]
