"""Entity resolution: raw TOP drug labels -> Drug nodes, ICD-10 codes / names -> Disease nodes.

Both resolvers are built from the contents of a graph store after the drug and disease
loaders ran (``from_store``), or from plain entries in tests (``from_entries``). They never
drop what they cannot resolve: every component keeps its raw text, with ``drug_id=None``.

Drug resolution, in order (the first method that matches wins, per component):

``exact``       the whole lower-cased label is a DrugBank/DrugCentral name or alias
``normalized``  the whole label after ``normalize_drug_name`` (brackets, dose text, salt
                words and punctuation removed)
``component``   each part of a combination label (split on `` / ``, ``+``, `` and ``, ``,``,
                ``;``, `` plus ``, `` with ``, `` vs ``, ``followed by``), normalised
``span``        the longest run of words inside a component that is a known name
                (``regorafenib sequential`` -> ``regorafenib``); names under 4 letters and
                generic words are never matched this way
``fuzzy``       (off by default) a difflib ratio >= ``fuzzy_cutoff`` against names of the
                same first letter; see docs/graph-build.md for its measured precision

Disease resolution: an ICD-10 code is matched exactly against the ``icd10`` property of
Disease nodes, then by its parent codes (``C34.90`` -> ``C34.9`` -> ``C34``); DOID
equivalents come from ``SAME_AS`` edges and the DO slim term from ``SUBCLASS_OF``.
Disease *names* are a separate, name-only fallback (``resolve_names``).
"""

from __future__ import annotations

import difflib
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Mapping, Sequence

from kgimagine.types import NodeLabel, RelationType

# --------------------------------------------------------------------------------------
# normalisation
# --------------------------------------------------------------------------------------
_BRACKETS = re.compile(r"\([^()]*\)|\[[^\[\]]*\]|\{[^{}]*\}")
_UNITS = (
    r"mg/kg|mg/m2|mg/m²|mcg/kg|µg/kg|ug/kg|mg/ml|mg/dl|mg|mcg|µg|ug|ng|g|kg|ml|l|iu|u|units?|"
    r"miu|mmol|µmol|umol|mol|meq|%|percent|gy|cgy|mci|mbq|gbq|vp|pfu|cells"
)
_DOSE = re.compile(
    rf"(?<![a-z])\d+(?:[.,]\d+)?(?:\s*(?:-|to|/|x)\s*\d+(?:[.,]\d+)?)*\s*(?:{_UNITS})(?:\s*/\s*(?:m2|kg|day|d|week|wk|dose|h|hr|hour|ml))*(?![a-z])"
)
_SCHEDULE = re.compile(
    r"(?<![a-z])(?:q\d*(?:d|w|wk|h|hr|m)|qd|bid|tid|qid|qod|qw|biw|tiw|od|prn|po|iv|sc|im|"
    r"daily|weekly|twice|once|monthly|hourly|oral|orally|intravenous|intravenously|"
    r"subcutaneous|subcutaneously|intramuscular|tablets?|capsules?|injections?|infusions?|"
    r"solution|suspension|cream|gel|ointment|patch|spray|inhaler|dose|doses|dosing|regimen)(?![a-z])"
)
_NUMBER_ONLY = re.compile(r"(?<![\w-])\d+(?:[.,]\d+)?(?![\w-])")
SALT_WORDS = frozenset(
    """hydrochloride hcl dihydrochloride mesylate mesilate dimesylate sodium disodium potassium calcium
    magnesium malate maleate tartrate bitartrate citrate acetate succinate sulfate sulphate bisulfate
    phosphate diphosphate fumarate hemifumarate besylate besilate tosylate ditosylate bromide
    hydrobromide chloride lactate gluconate nitrate monohydrate dihydrate trihydrate hydrate
    anhydrous free base salt esylate camsylate napsylate pamoate embonate dipropionate propionate
    valerate stearate palmitate decanoate enanthate cypionate""".split()
)
_PUNCT = re.compile(r"[^a-z0-9\s]+")
_SPACES = re.compile(r"\s+")

# combination separators (applied to the lower-cased label after bracket removal)
_SPLIT = re.compile(
    r"\s+/\s+|/|\s*\+\s*|\s+and\s+|\s*,\s*|\s*;\s*|\s+plus\s+|\s+with\s+|\s+vs\.?\s+|\s+versus\s+|"
    r"\s+followed\s+by\s+|\s+or\s+|\s*&\s*"
)

PLACEBO_PATTERNS = re.compile(r"(?<![a-z])(?:placebos?|saline|sham|vehicle|dummy|matching\s+tablets?)(?![a-z])")
STANDARD_OF_CARE_PATTERNS = re.compile(
    r"(?<![a-z])(?:standard[\s-]+of[\s-]+care|standard\s+care|standard\s+therapy|standard\s+treatment|"
    r"best\s+supportive\s+care|supportive\s+care|usual\s+care|best\s+available\s+therapy|soc|bsc)(?![a-z])"
)
# words never matched on their own by the span method
_GENERIC = frozenset(
    """the of for in on to a an at by from drug drugs treatment therapy arm group cohort part phase
    dose doses low high standard sequential continuous intermittent combination single multiple
    day days week weeks cycle cycles level escalation expansion control study active oral iv
    tablet capsule injection infusion vaccine adjuvant chemotherapy radiation radiotherapy surgery
    water oil sugar salt acid alcohol oxygen extended release sustained controlled delayed modified
    immediate film coated chewable formulation formulations depot xr er sr cr ir la xl body weight wt kg
    rescue new old novel reference comparator based schedule months years relief pain muscle ice easy
    perform cold hot medicated patch analgesic gel cream powder drops natural naturals plus
    methyl ethyl propyl butyl amino hydroxy chloro fluoro bromo acetyl phenyl benzyl oxo dimethyl""".split()
)
_CODE_LIKE = re.compile(r"\d")
def keeps_code(text: str, norm: str) -> bool:
    """False when normalising dropped the digits of a development code ("cnto 1275" -> "cnto"):
    such a key would name every code of that prefix."""
    has_code = any(m.group(1) not in _NOT_CODE_PREFIX for m in _CODE_PARTS.finditer(text.lower()))
    return not (has_code and not _CODE_LIKE.search(norm))


_CODE_PARTS = re.compile(r"(?<![a-z0-9])([a-z]{2,6})[\s-]?(\d{3,})(?![0-9.,]*\s*(?:mg|mcg|µg|ug|g|ml|iu|units?|%|mmol)(?![a-z]))")
_NOT_CODE_PREFIX = frozenset("of at to in on and or day days dose doses for with by per over every week weeks".split())


def _join_code(m: re.Match[str]) -> str:
    return m.group(0) if m.group(1) in _NOT_CODE_PREFIX else m.group(1) + m.group(2)


def normalize_drug_name(text: str) -> str:
    """Lower-case, drop bracketed codes, dose/schedule text, salt words and punctuation.

    A development code keeps its digits, joined to its prefix ("CNTO 1275" -> "cnto1275"), so
    that two codes of one sponsor never share a key."""
    s = _CODE_PARTS.sub(_join_code, text.lower())
    prev = None
    while prev != s:  # nested brackets
        prev = s
        s = _BRACKETS.sub(" ", s)
    s = _DOSE.sub(" ", s)
    s = _SCHEDULE.sub(" ", s)
    s = _NUMBER_ONLY.sub(" ", s)
    s = _PUNCT.sub(" ", s)
    words = [w for w in s.split() if w not in SALT_WORDS]
    return " ".join(words)


def _basic(text: str) -> str:
    """Lower-case and collapse whitespace only (the ``exact`` key)."""
    return _SPACES.sub(" ", text.lower()).strip()


def _bracket_texts(text: str) -> list[str]:
    """The contents of the innermost brackets of ``text``."""
    return [m.group(0)[1:-1] for m in _BRACKETS.finditer(text)]


def split_combination(text: str) -> list[str]:
    """Split a combination label into its parts (brackets removed first; empty parts dropped)."""
    s = text.lower()
    prev = None
    while prev != s:
        prev = s
        s = _BRACKETS.sub(" ", s)
    parts = [_SPACES.sub(" ", p).strip(" -:.") for p in _SPLIT.split(s)]
    return [p for p in parts if p]


def is_placebo_text(text: str) -> bool:
    return bool(PLACEBO_PATTERNS.search(text.lower()))


def is_standard_of_care_text(text: str) -> bool:
    return bool(STANDARD_OF_CARE_PATTERNS.search(text.lower()))


# --------------------------------------------------------------------------------------
# drugs
# --------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class DrugComponent:
    text: str  # the component as it appeared (lower-cased, brackets removed)
    drug_id: str | None
    method: str  # exact | normalized | component | span | acid | bracket | fuzzy | placebo | standard-of-care | unresolved
    matched: str = ""  # the index key that matched ("" when nothing did)
    alias: bool = False  # True when ``matched`` is only an alias (synonym, brand name) of the drug


@dataclass(frozen=True, slots=True)
class DrugResolution:
    raw: str
    components: tuple[DrugComponent, ...]
    is_placebo: bool
    is_standard_of_care: bool

    @property
    def drug_ids(self) -> list[str]:
        """Resolved ids in first-seen order, without repeats."""
        seen: dict[str, None] = {}
        for c in self.components:
            if c.drug_id is not None:
                seen.setdefault(c.drug_id, None)
        return list(seen)

    @property
    def unresolved(self) -> list[str]:
        return [c.text for c in self.components if c.method == "unresolved"]


def _id_rank(drug_id: str) -> tuple[int, str]:
    # DrugBank ids win over DrugCentral-only ids when two drugs share a name
    return (0 if drug_id.startswith("drugbank:") else 1, drug_id)


class DrugResolver:
    """Maps raw trial drug labels to Drug node ids (see the module docstring for the methods)."""

    def __init__(
        self,
        entries: Iterable[tuple[str, str, Sequence[str]]],
        *,
        fuzzy: bool = False,
        fuzzy_cutoff: float = 0.92,
    ) -> None:
        # key -> (priority, derived, drug_id rank, drug_id); priority 0 = primary name, 1 = alias;
        # derived 1 = the key is a normalised form (an alias "Aspirin" beats "Aspirin (free)")
        best: dict[str, tuple[int, int, tuple[int, str], str]] = {}
        spannable: set[str] = set()

        def add(key: str, prio: int, drug_id: str, derived: int) -> None:
            # a key of generic words only ("solution", "eye drops") names no drug
            if not key or not normalize_drug_name(key) or all(w in _GENERIC for w in key.split()):
                return
            cand = (prio, derived, _id_rank(drug_id), drug_id)
            old = best.get(key)
            if old is None or cand < old:
                best[key] = cand

        for drug_id, name, aliases in entries:
            for prio, text in [(0, name), *((1, a) for a in aliases or ())]:
                if not text:
                    continue
                keys = (_basic(text), normalize_drug_name(text))
                if not keeps_code(text, keys[1]):
                    keys = (keys[0], keys[0])
                for derived, key in enumerate(keys):
                    add(key, prio, drug_id, derived)
                # the span method (a name *inside* a longer label) trusts only primary names,
                # code-like aliases (su011248, bay 73-4506) and brand names of >= 6 letters that
                # are not generic words: DrugBank aliases include "ice", "body", "extended release"
                words = keys[1].split()
                if prio == 0 or _CODE_LIKE.search(text) or (
                    len(keys[1]) >= 6 and not all(w in _GENERIC for w in words)
                ):
                    spannable.add(keys[1])
        self._exact: dict[str, str] = {k: v[3] for k, v in best.items()}
        self._alias_keys = frozenset(k for k, v in best.items() if v[0] == 1)
        self._span_keys = frozenset(k for k in spannable if not all(w in _GENERIC for w in k.split()))
        self._max_words = max((k.count(" ") + 1 for k in self._span_keys), default=1)
        self.fuzzy = fuzzy
        self.fuzzy_cutoff = fuzzy_cutoff
        self._by_initial: dict[str, list[str]] | None = None

    # -- construction ----------------------------------------------------------------------
    @classmethod
    def from_entries(cls, entries: Iterable[tuple[str, str, Sequence[str]]], **kw: Any) -> "DrugResolver":
        return cls(entries, **kw)

    @classmethod
    def from_store(cls, store: Any, **kw: Any) -> "DrugResolver":
        """Index every Drug node's ``name`` and ``aliases`` property."""

        def entries() -> Iterator[tuple[str, str, Sequence[str]]]:
            for node in store.iter_nodes(NodeLabel.DRUG):
                aliases = node.properties.get("aliases") or []
                if isinstance(aliases, str):
                    aliases = [aliases]
                yield node.id, node.name, [a for a in aliases if isinstance(a, str)]

        return cls(entries(), **kw)

    def __len__(self) -> int:
        return len(self._exact)

    # -- lookup ----------------------------------------------------------------------------
    def _fuzzy(self, key: str) -> str | None:
        if len(key) < 6:
            return None
        if self._by_initial is None:
            idx: dict[str, list[str]] = defaultdict(list)
            for k in self._exact:
                if len(k) >= 6:
                    idx[k[0]].append(k)
            self._by_initial = dict(idx)
        hits = difflib.get_close_matches(key, self._by_initial.get(key[0], []), n=2, cutoff=self.fuzzy_cutoff)
        if not hits:
            return None
        if len(hits) == 2 and self._exact[hits[0]] != self._exact[hits[1]]:
            ratio = [difflib.SequenceMatcher(None, key, h).ratio() for h in hits]
            if abs(ratio[0] - ratio[1]) < 0.02:
                return None  # ambiguous: two drugs equally close
        return self._exact[hits[0]]

    def _span(self, norm: str) -> list[tuple[str, str]]:
        """Known names inside ``norm`` as (key, drug id): longest first, non-overlapping, in text order."""
        words = norm.split()
        n = len(words)
        taken = [False] * n
        found: list[tuple[int, str]] = []
        for size in range(min(n, self._max_words), 0, -1):
            for start in range(0, n - size + 1):
                if any(taken[start : start + size]):
                    continue
                chunk = words[start : start + size]
                if size == 1 and (chunk[0] in _GENERIC or len(chunk[0]) < 4):
                    continue
                key = " ".join(chunk)
                if key not in self._span_keys:
                    continue
                hit = self._exact.get(key)
                if hit is not None:
                    found.append((start, key, hit))
                    for i in range(start, start + size):
                        taken[i] = True
        return [(k, d) for _, k, d in sorted(found)]

    def _component(self, text: str) -> list[DrugComponent]:
        if is_placebo_text(text):
            return [DrugComponent(text, None, "placebo")]
        if is_standard_of_care_text(text):
            return [DrugComponent(text, None, "standard-of-care")]
        norm = normalize_drug_name(text)
        if not keeps_code(text, norm):
            norm = ""
        for key in (_basic(text), norm):
            hit = self._exact.get(key)
            if hit is not None:
                return [DrugComponent(text, hit, "component", key, key in self._alias_keys)]
        if norm:
            spans = self._span(norm)
            if spans:
                seen: dict[str, None] = {}
                out: list[DrugComponent] = []
                for key, h in spans:
                    if h not in seen:
                        seen[h] = None
                        out.append(DrugComponent(text, h, "span", key, key in self._alias_keys))
                return out
            words = norm.split()
            if len(words) == 1 and words[0].endswith("ate") and len(words[0]) > 6:
                acid = words[0][:-3] + "ic acid"  # a salt's anion: "mycophenolate" -> "mycophenolic acid"
                hit = self._exact.get(acid)
                if hit is not None:
                    return [DrugComponent(text, hit, "acid", acid, acid in self._alias_keys)]
            if self.fuzzy:
                hit = self._fuzzy(norm)
                if hit is not None:
                    return [DrugComponent(text, hit, "fuzzy", norm)]
        return [DrugComponent(text, None, "unresolved")]

    def resolve(self, raw: str) -> DrugResolution:
        text = raw if isinstance(raw, str) else str(raw)
        basic = _basic(text)
        placebo = is_placebo_text(basic)
        soc = is_standard_of_care_text(basic)
        hit = self._exact.get(basic)
        if hit is not None:
            comps: tuple[DrugComponent, ...] = (DrugComponent(basic, hit, "exact", basic, basic in self._alias_keys),)
        else:
            norm = normalize_drug_name(basic)
            hit = self._exact.get(norm) if not (placebo or soc) and keeps_code(basic, norm) else None
            if hit is not None:
                comps = (DrugComponent(basic, hit, "normalized", norm, norm in self._alias_keys),)
            else:
                parts = split_combination(basic) or [basic]
                comps = tuple(c for p in parts for c in self._component(p))
                if any(c.method == "unresolved" for c in comps):
                    # "rad001 (everolimus)", "vitamin b12 (cyanocobalamin)": the bracket names the drug
                    inner = [c for b in _bracket_texts(basic) for p in split_combination(b)
                             for c in self._component(p) if c.drug_id is not None]
                    known = {c.drug_id for c in comps}
                    inner = [DrugComponent(c.text, c.drug_id, "bracket", c.matched, c.alias) for c in inner
                             if c.drug_id not in known and not known.add(c.drug_id)]  # type: ignore[func-returns-value]
                    if inner:
                        comps = tuple(c for c in comps if c.method != "unresolved") + tuple(inner)
        return DrugResolution(
            raw=text,
            components=comps,
            is_placebo=placebo or any(c.method == "placebo" for c in comps),
            is_standard_of_care=soc or any(c.method == "standard-of-care" for c in comps),
        )


# --------------------------------------------------------------------------------------
# diseases
# --------------------------------------------------------------------------------------
def normalize_icd10(code: str) -> str:
    return code.strip().upper().replace(" ", "")


def icd10_parents(code: str) -> list[str]:
    """``C34.90`` -> ``["C34.9", "C34"]`` (never shorter than the 3-character category)."""
    c = normalize_icd10(code)
    out: list[str] = []
    while len(c) > 3:
        c = c[:-1].rstrip(".")
        if len(c) >= 3:
            out.append(c)
    return out


def normalize_disease_name(text: str) -> str:
    s = _PUNCT.sub(" ", text.lower().replace("'s", ""))
    return _SPACES.sub(" ", s).strip()


@dataclass(frozen=True, slots=True)
class DiseaseMatch:
    query: str  # the ICD-10 code (or disease name) as given
    disease_id: str
    match: str  # exact | parent | name
    matched_code: str = ""  # the code that matched (the parent code for ``parent``)


class DiseaseResolver:
    """ICD-10 code / disease name -> Disease node ids, with DOID and DO-slim expansion.

    ``same_as``/``parents`` (for ``equivalents``/``ancestors``) are read from the store on
    first use only: the TOP loader does not need them, and they cost a full edge scan.
    """

    def __init__(
        self,
        by_code: Mapping[str, list[str]],
        by_name: Mapping[str, list[str]] | None = None,
        same_as: Mapping[str, list[str]] | None = None,
        parents: Mapping[str, list[str]] | None = None,
        *,
        store: Any = None,
    ) -> None:
        self.by_code = by_code
        self.by_name = by_name or {}
        self._same_as = same_as
        self._parents = parents
        self._store = store

    def _load_links(self) -> None:
        same_as: dict[str, set[str]] = defaultdict(set)
        parents: dict[str, set[str]] = defaultdict(set)
        if self._store is not None:
            for e in self._store.iter_edges():
                if e.type is RelationType.SAME_AS:
                    same_as[e.source].add(e.target)
                    same_as[e.target].add(e.source)
                elif e.type is RelationType.SUBCLASS_OF:
                    parents[e.source].add(e.target)
        if self._same_as is None:
            self._same_as = {k: sorted(v) for k, v in same_as.items()}
        if self._parents is None:
            self._parents = {k: sorted(v) for k, v in parents.items()}

    @property
    def same_as(self) -> Mapping[str, list[str]]:
        if self._same_as is None:
            self._load_links()
        assert self._same_as is not None
        return self._same_as

    @property
    def parents(self) -> Mapping[str, list[str]]:
        if self._parents is None:
            self._load_links()
        assert self._parents is not None
        return self._parents

    @classmethod
    def from_store(cls, store: Any) -> "DiseaseResolver":
        by_code: dict[str, set[str]] = defaultdict(set)
        by_name: dict[str, set[str]] = defaultdict(set)
        for node in store.iter_nodes(NodeLabel.DISEASE):
            codes = node.properties.get("icd10") or []
            if isinstance(codes, str):
                codes = [codes]
            for c in codes:
                if isinstance(c, str) and c.strip():
                    by_code[normalize_icd10(c)].add(node.id)
            names = [node.name]
            for key in ("aliases", "synonyms"):
                extra = node.properties.get(key) or []
                names.extend([extra] if isinstance(extra, str) else extra)
            for n in names:
                if isinstance(n, str) and n.strip():
                    by_name[normalize_disease_name(n)].add(node.id)
        return cls(
            by_code={k: sorted(v, key=_disease_rank) for k, v in by_code.items()},
            by_name={k: sorted(v, key=_disease_rank) for k, v in by_name.items()},
            store=store,
        )

    def resolve_code(self, code: str) -> list[DiseaseMatch]:
        """Exact code first; else the nearest parent code that is known."""
        c = normalize_icd10(code)
        if not c:
            return []
        hits = self.by_code.get(c)
        if hits:
            return [DiseaseMatch(code, d, "exact", c) for d in hits]
        for parent in icd10_parents(c):
            hits = self.by_code.get(parent)
            if hits:
                return [DiseaseMatch(code, d, "parent", parent) for d in hits]
        return []

    def resolve_codes(self, codes: Iterable[str]) -> list[DiseaseMatch]:
        out: list[DiseaseMatch] = []
        for code in codes:
            out.extend(self.resolve_code(code))
        return out

    def resolve_name(self, name: str) -> list[DiseaseMatch]:
        hits = self.by_name.get(normalize_disease_name(name)) or []
        return [DiseaseMatch(name, d, "name") for d in hits]

    def equivalents(self, disease_id: str) -> list[str]:
        """SAME_AS partners (e.g. the DOID terms of a Mondo disease)."""
        return list(self.same_as.get(disease_id, []))

    def ancestors(self, disease_id: str, max_depth: int = 20) -> list[str]:
        """SUBCLASS_OF ancestors, nearest first (through SAME_AS for Mondo ids)."""
        start = [disease_id, *self.equivalents(disease_id)]
        seen: dict[str, None] = {}
        frontier = start
        for _ in range(max_depth):
            nxt: list[str] = []
            for d in frontier:
                for p in self.parents.get(d, []):
                    if p not in seen and p not in start:
                        seen[p] = None
                        nxt.append(p)
            if not nxt:
                break
            frontier = nxt
        return list(seen)


def _disease_rank(disease_id: str) -> tuple[int, str]:
    return (0 if disease_id.startswith("mondo:") else 1, disease_id)


# --------------------------------------------------------------------------------------
# coverage on a built graph
# --------------------------------------------------------------------------------------
def coverage(store: Any) -> dict[str, Any]:
    """Share of Trial nodes with >=1 TESTS drug that has >=1 TARGETS edge, and with >=1
    STUDIES disease: overall, per split, and per drug-target source (TARGETS provenance)."""
    targets_by_source: dict[str, set[str]] = defaultdict(set)
    tests: dict[str, set[str]] = defaultdict(set)
    studies: set[str] = set()
    for e in store.iter_edges():  # one pass: each typed iter_edges call is a full scan in some stores
        if e.type is RelationType.TARGETS:
            targets_by_source[e.provenance.source].add(e.source)
        elif e.type is RelationType.TESTS:
            tests[e.source].add(e.target)
        elif e.type is RelationType.STUDIES:
            studies.add(e.source)
    drugs_with_target: set[str] = set().union(*targets_by_source.values()) if targets_by_source else set()
    splits: dict[str, list[str]] = defaultdict(list)
    all_trials: list[str] = []
    for node in store.iter_nodes(NodeLabel.TRIAL):
        all_trials.append(node.id)
        names = node.properties.get("splits") or [node.properties.get("split") or "(none)"]
        for name in names if isinstance(names, list) else [names]:
            splits[str(name)].append(node.id)

    def block(trials: list[str]) -> dict[str, Any]:
        n = len(trials)
        with_drug = sum(1 for t in trials if tests.get(t))
        with_target = sum(1 for t in trials if tests.get(t, set()) & drugs_with_target)
        with_disease = sum(1 for t in trials if t in studies)
        per_source = {
            src: _share(sum(1 for t in trials if tests.get(t, set()) & drugs), n)
            for src, drugs in sorted(targets_by_source.items())
        }
        return {
            "trials": n,
            "with_resolved_drug": _share(with_drug, n),
            "with_targeted_drug": _share(with_target, n),
            "with_disease": _share(with_disease, n),
            "targeted_drug_by_source": per_source,
        }

    out = block(all_trials)
    out["by_split"] = {name: block(ids) for name, ids in sorted(splits.items())}
    return out


def _share(k: int, n: int) -> dict[str, float | int]:
    return {"count": k, "share": round(k / n, 4) if n else 0.0}
