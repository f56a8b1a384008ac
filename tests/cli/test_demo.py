"""`traject demo`: a scripted walk through one invented trajectory, in a demo ledger of its own."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from cli_helpers import Traject


def run_demo(tmp_path: Path, name: str = "demo.db") -> tuple[Traject, str]:
    traject = Traject(f"sqlite:///{tmp_path / 'unused.db'}", tmp_path / "unused.key")
    result = traject.ok("demo", "--db", str(tmp_path / name))
    assert result.stderr == ""  # a realistic path: no warnings
    demo = Traject(f"sqlite:///{tmp_path / name}", tmp_path / f"{name}.key")
    return demo, result.stdout


def test_the_demo_walks_through_a_trajectory_and_says_what_to_try_next(tmp_path: Path) -> None:
    demo, out = run_demo(tmp_path)

    assert "$ traject init --municipality GM0622" in out
    for kind in (
        "ResidencePermitRecorded",
        "CoaLinked",
        "TenancySigned",
        "Housed",
        "BrpRegistered",
        "InburgeringDutyEstablished",
        "BroadIntakeStarted",
        "PipAdopted",
    ):
        assert f"Recorded {kind} as version" in out, kind
    assert "Recorded LadderAssessed as version 10 of" in out
    assert "Recorded EventCorrected as version 11 of" in out
    assert "rung=3 (was 2)" in out
    assert "Try next:" in out
    # the default ledger (traject.db) was never touched
    assert not (tmp_path / "unused.db").exists()
    person = demo.json("person", "find", "--bsn", "123456782")["person_id"]
    assert len(demo.json("timeline", person)["events"]) == 11


def test_the_demo_suggestions_work(tmp_path: Path) -> None:
    demo, out = run_demo(tmp_path)
    suggestions = [
        shlex.split(line.split("#")[0])[1:]
        for line in out[out.index("Try next:") :].splitlines()
        if line.strip().startswith("traject ") and "init" not in line
    ]

    for args in suggestions:
        demo.ok(*args)
    as_known = next(args for args in suggestions if "--as-known-at" in args)
    # before the correction, the ladder assessment was rung 2
    assert "corrected by" not in demo.ok(*as_known).stdout
    assert re.search(r"rung=2\b", demo.ok(*as_known).stdout)


def test_a_second_run_starts_afresh(tmp_path: Path) -> None:
    first, _ = run_demo(tmp_path)
    first_person = first.json("person", "find", "--bsn", "123456782")["person_id"]

    second, out = run_demo(tmp_path)

    assert "Recorded LadderAssessed as version 10 of" in out
    assert second.json("person", "find", "--bsn", "123456782")["person_id"] != first_person


def test_the_demo_never_replaces_another_ledger(ledger: Traject, tmp_path: Path) -> None:
    db = Path(ledger.database_url.removeprefix("sqlite:///"))
    person = ledger.register()

    result = ledger("demo", "--db", str(db))

    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {db} exists and is not a demo ledger: give the demo another --db\n"
    )
    assert ledger.json("person", "show", person)["person_id"] == person
