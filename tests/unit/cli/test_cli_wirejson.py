"""The CLI's JSON (cli/wirejson.py) against the json package, and what a command imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hatoba.cli import wirejson

_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text()
_DOCS = st.recursive(
    _SCALARS, lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner), max_leaves=20
)
# what start-up must not pay for: `json` and the console-script wrapper bring `re`, which
# brings `enum`; `typing` and `warnings` are as costly
_SLOW_MODULES = {"json", "re", "enum", "typing", "warnings"}


@given(_DOCS)
def test_dumps_is_json_dumps(doc: Any) -> None:
    assert wirejson.dumps(doc) == json.dumps(doc)


@given(_DOCS, st.sampled_from(["", " ", "\n\t "]))
def test_loads_reads_what_json_writes(doc: Any, space: str) -> None:
    text = space + json.dumps(doc, indent=1) + space
    # compared written out: NaN is not equal to itself
    assert json.dumps(wirejson.loads(text)) == json.dumps(json.loads(text)) == json.dumps(doc)
    assert json.dumps(wirejson.loads(text.encode())) == json.dumps(doc)


@pytest.mark.parametrize("bad", ["", " ", '{"a": 1} x', "{", "nul", '["\\x"]'])
def test_loads_refuses_what_json_refuses_with_its_error(bad: str) -> None:
    with pytest.raises(json.JSONDecodeError) as ours:
        wirejson.loads(bad)
    with pytest.raises(json.JSONDecodeError) as theirs:
        json.loads(bad)
    assert str(ours.value) == str(theirs.value)


def test_dumps_refuses_what_json_cannot_write() -> None:
    with pytest.raises(TypeError, match="Object of type object is not JSON serializable"):
        wirejson.dumps({"a": object()})


def _imported(argv: list[str]) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *argv], capture_output=True, text=True, check=True
    )
    return {line.rpartition("|")[2].strip() for line in done.stderr.splitlines()[1:]}


def test_the_command_and_its_usual_requests_import_nothing_slow() -> None:
    script = Path(sys.executable).parent / "hatoba"
    assert not _imported([str(script), "--help"]) & _SLOW_MODULES
    usual = "import hatoba.cli.main, hatoba.cli.run, hatoba.cli.network, hatoba.cli.system"
    assert not _imported(["-c", usual]) & _SLOW_MODULES
