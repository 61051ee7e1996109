"""Import boundaries: the graph layer stays light."""

import subprocess
import sys


def test_kg_import_loads_no_heavy_libraries():
    code = (
        "import sys, kgimagine.kg, kgimagine.kg.schema, kgimagine.kg.networkx_store;"
        "heavy=[m for m in ('torch','langgraph','transformers','neo4j','sentence_transformers') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"importing kgimagine.kg loaded {out}"


def test_cli_help_is_light():
    code = (
        "import sys\nfrom kgimagine.cli import app\n"
        "heavy=[m for m in ('torch','langgraph','transformers','sklearn') if m in sys.modules]\nprint(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"importing the CLI loaded {out}"
