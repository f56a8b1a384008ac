"""A 5,000-line file of valid and mangled lines never crashes the importer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import Traject
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_import_kill import lines

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=5,
)
MUTATIONS = st.one_of(
    st.tuples(st.just("truncate"), st.integers(0, 200)),
    st.tuples(st.just("drop"), st.integers(0, 10)),
    st.tuples(st.just("set"), st.integers(0, 10), JSON_VALUES),
    st.tuples(st.just("add"), st.text(max_size=10), JSON_VALUES),
    st.tuples(st.just("garbage"), st.text(max_size=40)),
)


def mangle(line: dict[str, Any], mutation: tuple[Any, ...]) -> str:
    text = json.dumps(line)
    keys = list(line)
    match mutation:
        case ("truncate", at):
            return text[: at % max(len(text), 1)] or "{"
        case ("drop", index):
            line = {k: v for k, v in line.items() if k != keys[index % len(keys)]}
        case ("set", index, value):
            line = {**line, keys[index % len(keys)]: value}
        case ("add", key, value):
            line = {**line, key: value}
        case ("garbage", junk):
            return junk if junk.strip() else "#"
    return json.dumps(line)


@pytest.mark.slow
@settings(
    max_examples=3,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(st.tuples(st.integers(0, 4999), MUTATIONS), min_size=1, max_size=400))
def test_a_fuzzed_file_never_crashes_the_importer(
    tmp_path_factory: pytest.TempPathFactory, mutations: list[tuple[int, tuple[Any, ...]]]
) -> None:
    tmp_path = tmp_path_factory.mktemp("fuzz")
    base = lines(625)
    texts = [json.dumps(line) for line in base]
    for index, mutation in mutations:
        texts[index] = mangle(base[index], mutation)
    source = tmp_path / "fuzzed.jsonl"
    source.write_text("\n".join(texts) + "\n")
    ledger = Traject(f"sqlite:///{tmp_path / 'traject.db'}", tmp_path / "traject.key")
    ledger.ok("init", "--municipality", "GM0622")

    result = ledger("--json", "import", "--batch-size", "700", str(source))

    assert result.exit_code in (0, 1), result.output
    assert "Traceback" not in result.output
    summary = json.loads(result.stdout)
    written, skipped, rejected = summary["written"], summary["skipped"], summary["rejected"]
    assert written + skipped + rejected == sum(1 for t in texts if t.strip())
    assert written == ledger.event_count()
    rejects_file = Path(str(source).replace(".jsonl", ".rejects.jsonl"))
    rejects = rejects_file.read_text().splitlines() if rejects_file.exists() else []
    assert len(rejects) == rejected == (result.exit_code == 1) * rejected
    numbers = [json.loads(r)["_line"] for r in rejects]
    assert numbers == sorted(numbers)
    for number in numbers:
        assert f"fuzzed.jsonl:{number}: " in result.stderr
