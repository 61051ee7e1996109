"""A trial's listed drugs and diseases -> graph ids, each with how it was matched.

``TrialResolver(store).resolve(drugs, diseases, icd10)`` is the one resolution the graph build
(TOP trials' ``TESTS``/``STUDIES`` edges), prediction (``TargetResolver``) and
``kgimagine kg add-trials`` use. It prefers precision: a name that no method below matches is
reported in ``unresolved_*``, never guessed.

Diseases, by name first. Each listed name is tried against the ``name`` and the ``synonyms`` /
``aliases`` of every Disease node (normalised: lower case, punctuation to spaces):

``exact_label``      the normalised name is a node's label
``synonym``          ... one of its synonyms (DOID/Mondo/ICD-10 labels of exact matches, DO synonyms)
``rule:<rules>``     after rewriting rules, tried with the fewest rules first (joined by ``+``):
                     ``brackets`` (drop "(copd)"), ``inversion`` ("carcinoma, renal cell" ->
                     "renal cell carcinoma"), ``qualifier`` (stage/grade/recurrent/metastatic/
                     refractory/advanced/adult/childhood/"with ..." dropped: the parent disease),
                     ``abbreviation`` (nsclc, copd, aml, ...), ``neoplasm`` (cancer / carcinoma /
                     neoplasm / tumor variants), ``word_order`` (same words in any order, plurals
                     singular, "of/the/and" ignored, organ adjectives as nouns: "adenocarcinoma of
                     the pancreas" = "pancreatic adenocarcinoma")
``embedding``        (optional, off unless an embedder is passed) the nearest label by cosine of
                     sentence embeddings, kept only at or above ``embedding_threshold``
``node_id``          the listed string is itself a Disease node id

When one key names several nodes, they are grouped by ``SAME_AS`` (a Mondo term and its DOID
equivalent are one concept, both kept). Several concepts: the trial's ICD-10 codes break the tie
(a concept whose ``icd10`` codes share a code or parent code with the trial's); still several:
those with the shortest label (fewest words beyond the matched key) are kept. A kept disease that an ICD-10 code confirms gets ``+icd10_confirmed`` appended to
its method. ICD-10 codes never add a disease when the trial lists disease names; a trial that
lists none gets the diseases of its exact codes (``icd10_exact``).

Drugs: ``loaders.resolve.DrugResolver`` (combinations split; dose, schedule, salt and bracket
text stripped; DrugBank/DrugCentral names and aliases, brand names included). Methods:
``exact_label``, ``synonym`` (an alias), ``rule:normalized`` (after stripping), ``rule:component``
(a part of a combination), ``rule:span`` (a known name inside a longer part), ``node_id``.
Placebo / vehicle / sham / standard of care are ``comparators``, not drugs.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Protocol, Sequence

from kgimagine.loaders.resolve import DrugResolver, icd10_parents, normalize_icd10
from kgimagine.types import NodeLabel, RelationType

# --------------------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EntityMatch:
    """One listed name (or part of one) linked to one node, and how."""

    listed: str  # the name as the trial lists it
    node_id: str
    method: str  # exact_label | synonym | rule:... | embedding | node_id | icd10_exact (+icd10_confirmed)
    matched: str  # the label / synonym / key that matched
    score: float  # 1.0 exact label; lower for looser methods (the embedding cosine for ``embedding``)


@dataclass(frozen=True, slots=True)
class TrialEntities:
    drug_ids: tuple[str, ...]
    disease_ids: tuple[str, ...]
    drug_matches: tuple[EntityMatch, ...]
    disease_matches: tuple[EntityMatch, ...]
    unresolved_drugs: tuple[str, ...]
    unresolved_diseases: tuple[str, ...]
    comparators: tuple[str, ...]  # listed strings naming placebo / vehicle / standard of care

    def disease_match(self, node_id: str) -> EntityMatch | None:
        return next((m for m in self.disease_matches if m.node_id == node_id), None)

    def drug_match(self, node_id: str) -> EntityMatch | None:
        return next((m for m in self.drug_matches if m.node_id == node_id), None)


class TextEncoder(Protocol):
    """What the embedding fallback needs (``reasoning.embedding.MiniLMEmbedder`` is one)."""

    @property
    def model_id(self) -> str: ...

    def encode(self, texts: Sequence[str]) -> Any: ...


# --------------------------------------------------------------------------------------
# disease name normalisation and rewriting rules (pure)
# --------------------------------------------------------------------------------------
_PUNCT = re.compile(r"[^a-z0-9]+")
_BRACKETS = re.compile(r"\([^()]*\)|\[[^\[\]]*\]")
_STOP = frozenset({"of", "the", "and", "or", "in", "a", "an", "with", "nos", "disease", "disorder", "s", "system"})
#: organ adjectives read as their noun in word-order keys (both sides)
_ORGAN = {
    "pancreatic": "pancreas", "prostatic": "prostate", "gastric": "stomach", "renal": "kidney",
    "hepatic": "liver", "pulmonary": "lung", "cerebral": "brain", "colonic": "colon", "rectal": "rectum",
    "ovarian": "ovary", "mammary": "breast", "cutaneous": "skin", "esophageal": "esophagus",
    "oesophageal": "esophagus", "uterine": "uterus", "cervical": "cervix", "vesical": "bladder",
    "thyroidal": "thyroid", "laryngeal": "larynx", "testicular": "testis", "endometrial": "endometrium",
    "neoplastic": "neoplasm", "tumour": "tumor", "tumours": "tumor", "oesophagus": "esophagus",
    "haematologic": "hematologic", "leukaemia": "leukemia", "anaemia": "anemia", "infectious": "infection",
}
#: names made only of these words name an organ, not a disease ("breast", "pancreatic")
_ORGAN_WORDS = frozenset(
    """pancreatic pancreas prostatic prostate gastric stomach renal kidney hepatic liver pulmonary lung cerebral
    brain colonic colon rectal rectum ovarian ovary mammary breast cutaneous skin esophageal oesophageal esophagus
    uterine uterus cervical cervix vesical bladder thyroidal thyroid laryngeal larynx testicular testis endometrial
    endometrium heart bone blood head neck colorectal""".split()
)
_IRREGULAR = {"metastases": "metastasis", "neoplasms": "neoplasm", "diseases": "disease", "viruses": "virus",
              "lymphomas": "lymphoma", "carcinomas": "carcinoma", "sarcomas": "sarcoma", "myelomas": "myeloma"}


def normalize_name(text: str) -> str:
    """Lower case, ``'s`` dropped, every run of non-alphanumerics a single space."""
    s = text.lower().replace("'s ", " ").replace("\u2019s ", " ")
    return _PUNCT.sub(" ", s).strip()


def _singular(word: str) -> str:
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is", "os")):
        return word[:-1]
    return word


def bag_key(text: str) -> str:
    """Word-order key: singular words, organ adjectives as nouns, stop words out, sorted."""
    words = []
    for w in normalize_name(text).split():
        w = _ORGAN.get(w, w)
        w = _singular(w)
        w = _ORGAN.get(w, w)
        if w not in _STOP:
            words.append(w)
    return " ".join(sorted(set(words)))


_QUALIFIERS = re.compile(
    r"\b(?:stage\s+(?:[0-4]|iv|i{1,3})[abc]?\d?|(?:grade|grades)\s+(?:[1-4]|i{1,3}|iv)(?:\s*(?:-|to|and)\s*(?:[1-4]|i{1,3}|iv))?|"
    r"(?:extensive|limited|early|late|advanced)\s+stage|"
    r"(?:blastic|accelerated|chronic|blast)\s+phase|"
    r"relapsed\s+or\s+refractory|recurrent\s+or\s+refractory|"
    r"locally\s+advanced|newly\s+diagnosed|previously\s+(?:un)?treated|treatment\s+(?:naive|resistant)|"
    r"(?:high|low|intermediate)\s+risk|de\s+novo|first\s+line|second\s+line|"
    r"recurrent|relapsed|relapsing|refractory|metastatic|advanced|unresectable|resectable|inoperable|"
    r"operable|untreated|progressive|persistent|adult|adults|childhood|pediatric|paediatric|"
    r"primary|localized|localised|disseminated|severe|moderate|mild|moderate\s+to\s+severe|"
    r"mild\s+to\s+moderate|uncontrolled|poorly\s+controlled|protocol\s+specific|unspecified|"
    r"postmenopausal|premenopausal|male|female|hormone\s+refractory|castration\s+resistant|chronic|solid|malignant)\b"
)
_TAIL = re.compile(r"\s+(?:with|without|in|after|following|due\s+to|secondary\s+to|associated\s+with)\s+.*$")

#: the variants tried for each neoplasm word, nearest meaning first
_NEOPLASM_VARIANTS = {
    "tumor": ("cancer", "neoplasm", "carcinoma"),
    "neoplasm": ("neoplasm", "cancer", "tumor", "carcinoma"),
    "cancer": ("cancer", "carcinoma", "neoplasm"),
    "carcinoma": ("carcinoma", "cancer"),
}
_NEOPLASM = re.compile(
    r"\b(?:malignant\s+neoplasms?|malignant\s+tumou?rs?|malignancy|malignancies|cancers?|carcinomas?|neoplasms?|tumou?rs?)\b"
)

#: abbreviations as whole words (the expansion replaces the word)
ABBREVIATIONS: dict[str, str] = {
    "nsclc": "non small cell lung carcinoma", "sclc": "small cell lung carcinoma", "copd": "chronic obstructive pulmonary disease",
    "crc": "colorectal cancer", "rcc": "renal cell carcinoma", "hcc": "hepatocellular carcinoma",
    "aml": "acute myeloid leukemia", "cll": "chronic lymphocytic leukemia", "cml": "chronic myeloid leukemia",
    "mds": "myelodysplastic syndrome", "nhl": "non hodgkin lymphoma", "dlbcl": "diffuse large b cell lymphoma",
    "mcl": "mantle cell lymphoma", "gbm": "glioblastoma", "gist": "gastrointestinal stromal tumor",
    "hnscc": "head and neck squamous cell carcinoma", "scchn": "head and neck squamous cell carcinoma",
    "t2dm": "type 2 diabetes mellitus", "t2d": "type 2 diabetes mellitus", "t1dm": "type 1 diabetes mellitus",
    "t1d": "type 1 diabetes mellitus", "hcv": "hepatitis c", "hbv": "hepatitis b",
    "gerd": "gastroesophageal reflux disease", "adhd": "attention deficit hyperactivity disorder",
    "ptsd": "post traumatic stress disorder", "ckd": "chronic kidney disease", "ibs": "irritable bowel syndrome",
    "ibd": "inflammatory bowel disease", "amd": "age related macular degeneration", "bph": "benign prostatic hyperplasia",
    "gvhd": "graft versus host disease", "ipf": "idiopathic pulmonary fibrosis", "pah": "pulmonary arterial hypertension",
    "als": "amyotrophic lateral sclerosis", "osa": "obstructive sleep apnea", "sle": "systemic lupus erythematosus",
    "mdd": "major depressive disorder", "rsv": "respiratory syncytial virus infection", "aids": "hiv infection",
}
#: abbreviations trusted only as the whole name (they are also ordinary words or too short)
WHOLE_NAME_ABBREVIATIONS: dict[str, str] = {
    "ra": "rheumatoid arthritis", "ms": "multiple sclerosis", "cf": "cystic fibrosis", "all": "acute lymphoblastic leukemia",
    "mm": "multiple myeloma", "uc": "ulcerative colitis", "cd": "crohn disease", "af": "atrial fibrillation",
    "hiv": "hiv infection", "ad": "alzheimer disease", "pd": "parkinson disease",
}

_Rule = Callable[[str], list[str]]


def _rule_brackets(s: str) -> list[str]:
    out = _BRACKETS.sub(" ", s)
    return [out] if out != s else []


def _rule_inversion(s: str) -> list[str]:
    # MeSH-style "carcinoma, renal cell" -> "renal cell carcinoma"; "leukemia, myeloid, acute" -> "acute myeloid leukemia"
    parts = [p.strip() for p in s.split(",") if p.strip()]
    return [" ".join(reversed(parts))] if len(parts) > 1 else []


def _rule_qualifier(s: str) -> list[str]:
    low = s.lower()
    out = _TAIL.sub("", _QUALIFIERS.sub(" ", low))
    out = re.sub(r"\s+", " ", out).strip(" ,;-")
    return [out] if out and normalize_name(out) != normalize_name(low) and normalize_name(out) else []


_DIABETES = re.compile(r"\bdiabetes\b(?!\s+(?:mellitus|insipidus))")


def _rule_abbreviation(s: str) -> list[str]:
    norm = normalize_name(s)
    if norm in WHOLE_NAME_ABBREVIATIONS:
        return [WHOLE_NAME_ABBREVIATIONS[norm]]
    words = norm.split()
    new = " ".join(ABBREVIATIONS.get(w, w) for w in words)
    new = _DIABETES.sub("diabetes mellitus", new)  # the short form of the disease name
    return [new] if new != norm else []


def _rule_neoplasm(s: str) -> list[str]:
    low = s.lower()
    m = _NEOPLASM.search(low)
    if m is None:
        return []
    word = m.group(0)
    kind = ("cancer" if word.startswith(("malignan", "cancer")) else "carcinoma" if word.startswith("carcinoma")
            else "neoplasm" if "neoplasm" in word else "tumor")
    out = []
    for w in _NEOPLASM_VARIANTS[kind]:
        cand = low[: m.start()] + w + low[m.end():]
        if normalize_name(cand) != normalize_name(low):
            out.append(cand)
    return out


#: rewriting rules in the order they are applied within one combination
RULES: tuple[tuple[str, _Rule], ...] = (
    ("brackets", _rule_brackets),
    ("inversion", _rule_inversion),
    ("qualifier", _rule_qualifier),
    ("abbreviation", _rule_abbreviation),
    ("neoplasm", _rule_neoplasm),
)


def name_variants(name: str, max_rules: int = 3) -> Iterator[tuple[tuple[str, ...], str]]:
    """(rules applied, rewritten name) pairs: the name itself first, then fewer rules before more."""
    yield (), name
    for k in range(1, max_rules + 1):
        for combo in combinations(RULES, k):
            texts = [name]
            for _, rule in combo:
                texts = [out for t in texts for out in rule(t)]
                if not texts:
                    break
            for t in texts:
                yield tuple(r for r, _ in combo), t


# --------------------------------------------------------------------------------------
# the disease index
# --------------------------------------------------------------------------------------
_METHOD_SCORE = {"exact_label": 1.0, "synonym": 0.97}


class DiseaseNameIndex:
    """Disease node names and synonyms of one graph, with SAME_AS concept groups and ICD-10 codes."""

    def __init__(
        self,
        entries: Iterable[tuple[str, str, Sequence[str], Sequence[str]]],
        same_as: Iterable[tuple[str, str]] = (),
    ) -> None:
        """``entries``: (node id, name, synonyms, icd10 codes); ``same_as``: equivalent id pairs."""
        self.label: dict[str, set[str]] = defaultdict(set)
        self.synonym: dict[str, set[str]] = defaultdict(set)
        self.label_bag: dict[str, set[str]] = defaultdict(set)
        self.synonym_bag: dict[str, set[str]] = defaultdict(set)
        self.names: dict[str, str] = {}
        self.icd10: dict[str, frozenset[str]] = {}
        for node_id, name, synonyms, codes in entries:
            self.names[node_id] = name
            self.icd10[node_id] = frozenset(normalize_icd10(c) for c in codes if c and c.strip())
            if name and name.strip():
                self.label[normalize_name(name)].add(node_id)
                self.label_bag[bag_key(name)].add(node_id)
            # "chronic lymphocytic leukemia/small lymphocytic lymphoma": each side names the node too
            parts = [p for t in (name, *synonyms) if t and "/" in t for p in t.split("/") if len(p.split()) >= 2]
            for syn in (*synonyms, *parts):
                if syn and syn.strip():
                    self.synonym[normalize_name(syn)].add(node_id)
                    self.synonym_bag[bag_key(syn)].add(node_id)
        for table in (self.label_bag, self.synonym_bag):
            table.pop("", None)
        parent: dict[str, str] = {}
        partners: dict[str, set[str]] = defaultdict(set)

        def find(x: str) -> str:
            while parent.get(x, x) != x:
                parent[x] = parent.get(parent[x], parent[x])
                x = parent[x]
            return x

        for a, b in same_as:
            partners[a].add(b)
            partners[b].add(a)
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
        self._group = {n: find(n) for n in parent}
        # one-to-one exact matches only: Mondo "cancer" matches three DOID terms, none of them the
        # same concept alone
        self._twin = {a: next(iter(bs)) for a, bs in partners.items()
                      if len(bs) == 1 and len(partners[next(iter(bs))]) == 1 and next(iter(bs)) in self.names}

    def equivalents(self, node_id: str) -> list[str]:
        """``node_id`` and its one-to-one SAME_AS twin (a Mondo term and its DOID match), Mondo first."""
        twin = self._twin.get(node_id)
        return sorted([node_id, twin] if twin else [node_id], key=_rank)

    @classmethod
    def from_store(cls, store: Any) -> "DiseaseNameIndex":
        def entries() -> Iterator[tuple[str, str, list[str], list[str]]]:
            for node in store.iter_nodes(NodeLabel.DISEASE):
                syns: list[str] = []
                for key in ("synonyms", "aliases"):
                    v = node.properties.get(key) or []
                    syns.extend([v] if isinstance(v, str) else [x for x in v if isinstance(x, str)])
                codes = node.properties.get("icd10") or []
                codes = [codes] if isinstance(codes, str) else [c for c in codes if isinstance(c, str)]
                yield node.id, node.name or "", syns, codes

        pairs = [(e.source, e.target) for e in store.iter_edges(RelationType.SAME_AS)]
        return cls(entries(), pairs)

    def group(self, node_id: str) -> str:
        return self._group.get(node_id, node_id)

    def lookup(self, text: str) -> tuple[str, str, set[str]] | None:
        """(kind, key, ids) for the first table that knows ``text``: label, synonym, then word order."""
        key = normalize_name(text)
        if not key:
            return None
        if key in self.label:
            return "exact_label", key, self.label[key]
        if key in self.synonym:
            return "synonym", key, self.synonym[key]
        bag = bag_key(text)
        if not bag:
            return None
        if bag in self.label_bag:
            return "word_order", bag, self.label_bag[bag]
        if bag in self.synonym_bag:
            return "word_order", bag, self.synonym_bag[bag]
        return None

    def icd_overlap(self, node_id: str, codes: frozenset[str]) -> bool:
        """A code of the node equals a trial code or one of its parents (or the reverse)."""
        mine = self.icd10.get(node_id, frozenset())
        if not mine or not codes:
            return False
        for c in codes:
            if c in mine or any(p in mine for p in icd10_parents(c)):
                return True
        return any(p in codes for m in mine for p in icd10_parents(m))


# --------------------------------------------------------------------------------------
# the resolver
# --------------------------------------------------------------------------------------
_DRUG_METHOD = {"exact": "exact_label", "normalized": "rule:normalized", "component": "rule:component",
                "span": "rule:span", "acid": "rule:salt_to_acid", "bracket": "rule:bracket", "fuzzy": "rule:fuzzy"}
_DRUG_SCORE = {"exact": 1.0, "normalized": 0.97, "component": 0.95, "span": 0.9, "acid": 0.9, "bracket": 0.9,
               "fuzzy": 0.8}

#: regimen acronyms and drug abbreviations, replaced by the drugs they name before resolution
DRUG_ABBREVIATIONS: dict[str, str] = {
    "folfox": "leucovorin + fluorouracil + oxaliplatin", "mfolfox": "leucovorin + fluorouracil + oxaliplatin",
    "folfiri": "leucovorin + fluorouracil + irinotecan",
    "folfirinox": "leucovorin + fluorouracil + irinotecan + oxaliplatin",
    "xelox": "capecitabine + oxaliplatin", "capox": "capecitabine + oxaliplatin",
    "chop": "cyclophosphamide + doxorubicin + vincristine + prednisone",
    "r-chop": "rituximab + cyclophosphamide + doxorubicin + vincristine + prednisone",
    "ecf": "epirubicin + cisplatin + fluorouracil", "ecx": "epirubicin + cisplatin + capecitabine",
    "cmf": "cyclophosphamide + methotrexate + fluorouracil", "gemox": "gemcitabine + oxaliplatin",
    "5-fu": "fluorouracil", "5fu": "fluorouracil", "g-csf": "filgrastim", "gm-csf": "sargramostim",
    "ara-c": "cytarabine", "atra": "tretinoin", "6-mp": "mercaptopurine", "mtx": "methotrexate",
    "cyclosporin a": "cyclosporine", "cyclosporin": "cyclosporine", "mmf": "mycophenolate mofetil",
}
_DRUG_ABBREVIATION = re.compile(
    r"(?<![a-z0-9-])(" + "|".join(re.escape(k) for k in sorted(DRUG_ABBREVIATIONS, key=len, reverse=True))
    + r")(?:\s*-?\s*\d{1,2})?(?![a-z0-9-])"
)


def expand_drug_abbreviations(text: str) -> str:
    """``"tivozanib plus folfox6"`` -> ``"tivozanib plus leucovorin + fluorouracil + oxaliplatin"``."""
    return _DRUG_ABBREVIATION.sub(lambda m: DRUG_ABBREVIATIONS[m.group(1)], text.lower())


class TrialResolver:
    """Resolve a trial's listed drugs, diseases and ICD-10 codes against one graph store.

    Indexes are built on first use from the store (Drug and Disease nodes, SAME_AS edges) and
    kept; results are cached per name. ``embedder`` (optional) turns on the embedding fallback
    for disease names no rule matched: label embeddings are computed once (``label_vectors``
    may pass precomputed ones, e.g. from an on-disk cache the caller manages).
    """

    def __init__(
        self,
        store: Any,
        *,
        embedder: TextEncoder | None = None,
        embedding_threshold: float = 0.9,
        label_vectors: Any = None,
        max_rules: int = 3,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.embedding_threshold = embedding_threshold
        self.max_rules = max_rules
        self._drugs: DrugResolver | None = None
        self._diseases: DiseaseNameIndex | None = None
        self._label_vectors = label_vectors
        self._label_ids: list[str] | None = None
        self._disease_cache: dict[str, list[tuple[str, str, str, float]]] = {}

    # -- indexes ---------------------------------------------------------------------------
    @property
    def drug_resolver(self) -> DrugResolver:
        if self._drugs is None:
            self._drugs = DrugResolver.from_store(self.store)
        return self._drugs

    @property
    def disease_index(self) -> DiseaseNameIndex:
        if self._diseases is None:
            self._diseases = DiseaseNameIndex.from_store(self.store)
        return self._diseases

    def embedding_labels(self) -> tuple[list[str], list[str]]:
        """(node ids, label texts) the embedding fallback compares against, in a fixed order."""
        idx = self.disease_index
        ids = sorted(idx.names)
        return ids, [idx.names[i] for i in ids]

    def embedding_match(self, name: str) -> tuple[str, str, float] | None:
        if self.embedder is None:
            return None
        import numpy as np

        if self._label_ids is None or self._label_vectors is None:
            ids, texts = self.embedding_labels()
            if self._label_vectors is None:
                self._label_vectors = self.embedder.encode(texts)
            self._label_ids = ids
        vec = np.asarray(self.embedder.encode([name]))[0]
        sims = np.asarray(self._label_vectors) @ vec
        best = int(np.argmax(sims))
        score = float(sims[best])
        if score < self.embedding_threshold:
            return None
        node_id = self._label_ids[best]
        return node_id, self.disease_index.names[node_id], score

    # -- diseases --------------------------------------------------------------------------
    def _disease_candidates(self, name: str) -> list[tuple[str, str, str, float]]:
        """(node id, method, matched, score) for one listed name, before ICD-10 tie-breaks."""
        if name in self._disease_cache:
            return self._disease_cache[name]
        idx = self.disease_index
        out: list[tuple[str, str, str, float]] = []
        if ":" in name and name.strip() in idx.names:
            out = [(name.strip(), "node_id", name.strip(), 1.0)]
        elif all(w in _ORGAN_WORDS for w in normalize_name(name).split()):
            out = []  # "breast", "pancreatic": an organ, not a disease name
        else:
            for rules, text in name_variants(name, self.max_rules):
                hit = idx.lookup(text)
                if hit is None:
                    continue
                kind, key, ids = hit
                if not rules and kind != "word_order":
                    method, score = kind, _METHOD_SCORE[kind]
                else:
                    parts = list(rules) + (["word_order"] if kind == "word_order" else [])
                    if kind == "synonym":
                        parts.append("synonym")
                    method = "rule:" + "+".join(parts)
                    score = round(max(0.5, 0.95 - 0.03 * len(parts)), 2)
                matched = key if kind != "word_order" else text
                out = [(i, method, matched, score) for i in sorted(ids, key=_rank)]
                break
            if not out:
                emb = self.embedding_match(name)
                if emb is not None:
                    out = [(emb[0], "embedding", emb[1], round(emb[2], 4))]
        self._disease_cache[name] = out
        return out

    def _resolve_diseases(
        self, diseases: Sequence[str], icd10: Sequence[str]
    ) -> tuple[list[EntityMatch], list[str]]:
        idx = self.disease_index
        codes = frozenset(normalize_icd10(c) for c in icd10 if c and c.strip())
        matches: list[EntityMatch] = []
        unresolved: list[str] = []
        for listed in diseases:
            if not listed or not listed.strip():
                continue
            cands = self._disease_candidates(listed)
            if not cands:
                unresolved.append(listed)
                continue
            groups: dict[str, list[tuple[str, str, str, float]]] = {}
            for c in cands:
                groups.setdefault(idx.group(c[0]), []).append(c)
            confirmed = {g for g, members in groups.items() if any(idx.icd_overlap(m[0], codes) for m in members)}
            keep = [g for g in groups if g in confirmed] if len(groups) > 1 and confirmed else list(groups)
            if len(keep) > 1:
                # still several concepts: the one(s) whose own label says least beyond the key
                size = {g: min(len(normalize_name(idx.names.get(m[0], "")).split()) for m in groups[g]) for g in keep}
                keep = [g for g in keep if size[g] == min(size.values())]
            for g in keep:
                direct = {c[0] for c in groups[g]}
                members = list(groups[g])
                node_id0, method0, matched0, score0 = groups[g][0]
                # the equivalents of a matched node are the same concept: linked too
                members += [(e, method0 + "+same_as", matched0, score0)
                            for e in idx.equivalents(node_id0) if e not in direct]
                for node_id, method, matched, score in members:
                    if g in confirmed:
                        method, score = method + "+icd10_confirmed", min(1.0, round(score + 0.02, 4))
                    matches.append(EntityMatch(listed, node_id, method, matched, score))
        if not [d for d in diseases if d and d.strip()]:
            # no names to contradict: the diseases of exact ICD-10 codes
            for code in sorted(codes):
                for node_id in sorted((n for n, cs in idx.icd10.items() if code in cs), key=_rank):
                    matches.append(EntityMatch(code, node_id, "icd10_exact", code, 0.8))
        return matches, unresolved

    # -- drugs -----------------------------------------------------------------------------
    def _resolve_drugs(self, drugs: Sequence[str]) -> tuple[list[EntityMatch], list[str], list[str]]:
        matches: list[EntityMatch] = []
        unresolved: list[str] = []
        comparators: list[str] = []
        for listed in drugs:
            if not listed or not listed.strip():
                continue
            if ":" in listed and self.store.has_node(listed.strip()):
                matches.append(EntityMatch(listed, listed.strip(), "node_id", listed.strip(), 1.0))
                continue
            expanded = expand_drug_abbreviations(listed)
            res = self.drug_resolver.resolve(expanded if expanded != listed.lower() else listed)
            if res.is_placebo or res.is_standard_of_care:
                comparators.append(listed)
            for comp in res.components:
                if comp.drug_id is None:
                    if comp.method == "unresolved":
                        unresolved.append(comp.text)
                    continue
                method = _DRUG_METHOD.get(comp.method, "rule:" + comp.method)
                if expanded != listed.lower() and comp.matched and comp.matched not in listed.lower():
                    method = "rule:abbreviation" + ("" if method == "exact_label" else "+" + method.removeprefix("rule:"))
                if comp.alias:
                    method = "synonym" if method == "exact_label" else method + "+synonym"
                score = _DRUG_SCORE.get(comp.method, 0.8) - (0.02 if comp.alias else 0.0)
                matches.append(EntityMatch(listed, comp.drug_id, method, comp.matched, round(score, 2)))
        return matches, unresolved, comparators

    # -- public ----------------------------------------------------------------------------
    def resolve(self, drugs: Sequence[str], diseases: Sequence[str], icd10: Sequence[str] = ()) -> TrialEntities:
        drug_matches, unresolved_drugs, comparators = self._resolve_drugs(drugs)
        disease_matches, unresolved_diseases = self._resolve_diseases(diseases, icd10)
        return TrialEntities(
            drug_ids=tuple(dict.fromkeys(m.node_id for m in drug_matches)),
            disease_ids=tuple(dict.fromkeys(m.node_id for m in disease_matches)),
            drug_matches=tuple(drug_matches),
            disease_matches=tuple(disease_matches),
            unresolved_drugs=tuple(dict.fromkeys(unresolved_drugs)),
            unresolved_diseases=tuple(dict.fromkeys(unresolved_diseases)),
            comparators=tuple(dict.fromkeys(comparators)),
        )


def cached_label_vectors(resolver: TrialResolver, embedder: TextEncoder, cache_dir: str | Path) -> Any:
    """The label embeddings of ``resolver``'s graph, read from / written to ``cache_dir``.

    One ``.npy`` file per label list and model (``disease-labels-<sha>-<model>.npy``): encoding
    the 12,885 Disease labels of the shared-data graph with MiniLM took 207 s on 2 busy CPU cores,
    so the fallback is off in the graph build and pays this once per graph elsewhere.
    """
    import hashlib

    import numpy as np

    ids, texts = resolver.embedding_labels()
    digest = hashlib.sha256("\n".join(f"{i}\t{t}" for i, t in zip(ids, texts)).encode()).hexdigest()[:16]
    model = re.sub(r"[^A-Za-z0-9.-]+", "_", embedder.model_id)
    path = Path(cache_dir) / f"disease-labels-{digest}-{model}.npy"
    if path.is_file():
        return np.load(path)
    vecs = np.asarray(embedder.encode(texts), dtype=np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, vecs)
    tmp.replace(path)
    return vecs


def _rank(node_id: str) -> tuple[int, str]:
    return (0 if node_id.startswith("mondo:") else 1, node_id)
