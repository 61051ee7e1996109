"""The source loaders in build (dependency) order, looked up by name.

Order matters only for names: sources that own a node's name and properties come before the
ones that merely reference it (a referenced node is yielded minimally and the stores keep an
existing name). ``ontology`` comes before ``pharmacotherapydb`` so disease nodes are named.
The build orchestrator appends its own loaders (top, repodb, rdf-ontology) after these.
"""

from __future__ import annotations

from typing import Callable

from kgimagine.errors import LoaderError
from kgimagine.loaders.base import Loader
from kgimagine.loaders.drugbank import DrugBankLoader
from kgimagine.loaders.drugcentral import DrugCentralLoader
from kgimagine.loaders.hetionet import HetionetLoader
from kgimagine.loaders.ontology import OntologyLoader
from kgimagine.loaders.pharmacotherapydb import PharmacotherapyDBLoader
from kgimagine.loaders.sider import SiderLoader

#: name -> loader class, in build order.
ALL_LOADERS: dict[str, Callable[[], Loader]] = {
    "hetionet": HetionetLoader,
    "drugbank": DrugBankLoader,
    "ontology": OntologyLoader,
    "drugcentral": DrugCentralLoader,
    "pharmacotherapydb": PharmacotherapyDBLoader,
    "sider": SiderLoader,
}


def get_loader(name: str) -> Loader:
    """A fresh loader instance by source name; ``LoaderError`` naming the known ones otherwise."""
    try:
        factory = ALL_LOADERS[name]
    except KeyError:
        raise LoaderError(f"unknown source {name!r}; known: {', '.join(ALL_LOADERS)}") from None
    return factory()
