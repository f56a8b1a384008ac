"""`traject import` reads files as spreadsheets and other systems write them: a byte order mark,
`;` between CSV cells, CRLF line ends; it refuses a CSV file without --kind up front, and a JSON
value whose type is not the field's."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from cli_helpers import Traject, days_ago, last_line

from commands.importing import LineRejectedError, refuse_repeated_keys

BOM = "\ufeff"
DAY = days_ago(3)


def ladder_csv(person: str, *, delimiter: str = ",", rung: str = "3", end: str = "\n") -> str:
    rows = [["person_id", "occurred_on", "rung", "assessor"], [person, DAY, rung, "r.jansen"]]
    return "".join(delimiter.join(row) + end for row in rows)


@pytest.mark.parametrize(
    ("bom", "delimiter", "end"),
    [
        pytest.param(BOM, ",", "\n", id="bom"),
        pytest.param("", ";", "\n", id="semicolons"),
        pytest.param("", ",", "\r\n", id="crlf"),
        pytest.param(BOM, ";", "\r\n", id="excel-nl"),
    ],
)
def test_a_csv_file_as_excel_writes_it_is_imported(
    ledger: Traject, tmp_path: Path, bom: str, delimiter: str, end: str
) -> None:
    person = ledger.register()
    source = tmp_path / "ladder.csv"
    source.write_text(bom + ladder_csv(person, delimiter=delimiter, end=end), newline="")

    result = ledger("import", "--kind", "ladder-assessed", str(source))

    assert result.exit_code == 0, result.output
    assert last_line(result.stdout).startswith("1 written, 0 skipped (already present), 0 rejected")
    assert ledger.json("timeline", person)["events"][-1]["recorded"]["fields"]["rung"] == 3


def test_a_semicolon_csv_quotes_a_list_and_its_rejects_keep_its_delimiter_and_bom(
    ledger: Traject, tmp_path: Path
) -> None:
    source = tmp_path / "people.csv"
    source.write_text(
        BOM + "person;occurred_on;birth_date;sex;nationality\r\n"
        f'P-1;{DAY};1990-04-02;f;"SY;IQ"\r\n'
        f"P-2;{DAY};1990-13-02;f;ER\r\n",
        newline="",
    )

    result = ledger("import", "--kind", "person-registered", str(source))

    assert result.exit_code == 1
    assert f"{source}:3: birth_date: " in result.stderr
    person = ledger.json("export", "--include-personal", "--purpose", "test", "--quiet")
    assert person["nationality"] == ["SY", "IQ"]
    rejects = (tmp_path / "people.rejects.csv").read_text(encoding="utf-8")
    assert rejects.startswith(BOM + "person;person_id;occurred_on;")
    assert rejects.splitlines()[1].startswith(f"P-2;;{DAY};")


def test_a_json_lines_file_with_a_bom_is_imported(ledger: Traject, tmp_path: Path) -> None:
    person = ledger.register()
    line = {"kind": "ladder-assessed", "person_id": person, "occurred_on": DAY, "rung": 3}
    source = tmp_path / "ladder.jsonl"
    source.write_text(BOM + json.dumps(line | {"assessor": "x"}) + "\r\n", newline="")

    result = ledger("import", str(source))

    assert result.exit_code == 0, result.output
    assert ledger.event_count() == 2


@pytest.mark.parametrize("name", ["ladder.csv", "ladder.CSV", "ladder.txt"])
def test_a_csv_file_without_kind_is_refused_before_anything_is_written(
    ledger: Traject, tmp_path: Path, name: str
) -> None:
    person = ledger.register()
    source = tmp_path / name
    source.write_text(ladder_csv(person))
    earlier = source.with_name(source.stem + ".rejects.csv")
    earlier.write_text("person,_line,_error\n")  # an earlier import's rejects: kept as they are

    result = ledger("import", str(source))

    assert result.exit_code == 2
    assert f"Error: {name} is a CSV file: give --kind KIND" in result.stderr
    assert result.stdout == ""
    assert ledger.event_count() == 1
    assert earlier.read_text() == "person,_line,_error\n"
    assert not source.with_name(source.name + ".rejects.jsonl").exists()


def test_kind_with_a_json_lines_file_is_refused(ledger: Traject, tmp_path: Path) -> None:
    source = tmp_path / "facts.jsonl"
    source.write_text('{"kind": "ladder-assessed"}\n')

    result = ledger("import", "--kind", "ladder-assessed", str(source))

    assert result.exit_code == 2
    assert "Error: facts.jsonl is JSON Lines, whose lines name their own kind" in result.stderr
    assert not (tmp_path / "facts.rejects.jsonl").exists()


REGISTER = {
    "kind": "person-registered",
    "person": "C-1",
    "occurred_on": DAY,
    "birth_date": "1990-04-02",
    "sex": "f",
    "nationality": ["SY"],
}
LADDER = {"kind": "ladder-assessed", "person": "C-1", "occurred_on": DAY, "assessor": "x"}
MISTYPED: list[tuple[dict[str, Any], str]] = [
    (LADDER | {"rung": True}, "rung: expected a whole number from 1 to 6, got true"),
    (LADDER | {"rung": 2.5}, "rung: expected a whole number from 1 to 6, got 2.5"),
    (LADDER | {"rung": 9}, "rung: expected a whole number from 1 to 6, got 9"),
    (LADDER | {"rung": "three"}, "rung: expected a whole number from 1 to 6, got 'three'"),
    (LADDER | {"rung": 3, "occurred_on": 20250101}, "occurred_on: expected a date YYYY-MM-DD"),
    (
        LADDER | {"rung": 3, "source": True},
        "source: expected one of cli, import, duo, coa, ind, brp, provider, got true",
    ),
    (
        {"kind": "help-request-recorded", "person": "C-1", "occurred_on": DAY}
        | {"category": "overig", "resolved": 1},
        "resolved: expected true or false (or yes/no, 1/0 as text), got 1",
    ),
    (
        {"kind": "pre-integration-recorded", "person": "C-1", "occurred_on": DAY}
        | {"provider": "P", "hours": True},
        "hours: expected a number, got true",
    ),
    (REGISTER | {"person": "C-2", "household_id": 7}, "household_id: expected a UUID, got 7"),
]


def test_a_json_value_of_another_type_than_the_field_s_is_rejected(
    ledger: Traject, tmp_path: Path
) -> None:
    source = tmp_path / "mistyped.jsonl"
    source.write_text(
        "".join(json.dumps(line) + "\n" for line in [REGISTER, *[m for m, _ in MISTYPED]])
    )

    result = ledger("import", str(source))

    assert result.exit_code == 1
    for number, (_, message) in enumerate(MISTYPED, start=2):
        assert f"{source}:{number}: {message}" in result.stderr, message
    assert ledger.event_count() == 1  # the registration alone


def test_a_correction_s_yes_no_value_is_only_for_a_yes_no_field(
    ledger: Traject, tmp_path: Path
) -> None:
    """A correction's changes are typed by the event it corrects, and refused in the words of a
    line of that kind: true is not rung 1."""
    lines = [
        REGISTER,
        LADDER | {"rung": 3, "idempotency_key": "ladder-1"},
        {"kind": "event-corrected", "person": "C-1", "target": "ladder-1",
         "changes": {"rung": True}, "reason": "typo"},
        {"kind": "event-corrected", "person": "C-1", "target": 1,
         "changes": {"sex": False}, "reason": "typo"},
    ]  # fmt: skip
    source = tmp_path / "corrections.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))

    result = ledger("import", str(source))

    assert result.exit_code == 1
    assert f"{source}:3: changes.rung: expected a whole number from 1 to 6, got true" in (
        result.stderr
    )
    assert f"{source}:4: changes.sex: expected one of f, m, x, got false" in result.stderr
    assert ledger.event_count() == 2


def test_text_of_the_right_kind_still_converts_as_on_the_command_line(
    ledger: Traject, tmp_path: Path
) -> None:
    lines = [REGISTER, LADDER | {"rung": "4"}, LADDER | {"rung": 5.0, "occurred_on": days_ago(2)}]
    source = tmp_path / "texts.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))

    result = ledger("import", str(source))

    assert result.exit_code == 0, result.output
    exported = ledger("export", "--kind", "ladder-assessed", "--quiet").stdout.splitlines()
    assert [json.loads(line)["rung"] for line in exported] == [4, 5]


def test_a_csv_cell_of_the_wrong_kind_is_rejected_in_traject_s_words(
    ledger: Traject, tmp_path: Path
) -> None:
    person = ledger.register()
    source = tmp_path / "ladder.csv"
    source.write_text(ladder_csv(person, rung="true"))

    result = ledger("import", "--kind", "ladder-assessed", str(source))

    assert result.exit_code == 1
    assert f"{source}:2: rung: expected a whole number from 1 to 6, got 'true'\n" in result.stderr


def test_a_registration_without_a_municipality_needs_one_from_the_line_or_the_option(
    traject: Traject, tmp_path: Path
) -> None:
    traject.init()  # no default municipality
    source = tmp_path / "people.jsonl"
    lines = [REGISTER, REGISTER | {"person": "C-2", "municipality": "GM0363"}]
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))

    refused = traject("import", "--dry-run", str(source))
    done = traject("import", "--municipality", "GM0622", str(source))

    assert refused.exit_code == 1
    assert (
        f"{source}:1: municipality: required: the line names none and the ledger has no default "
        'municipality; add "municipality": "GMdddd" to the line (a column in CSV), or import '
        "with --municipality"
    ) in refused.stderr
    assert last_line(refused.stdout).startswith("1 valid, 0 skipped (already present), 1 rejected")
    assert done.exit_code == 0, done.output
    exported = [json.loads(line) for line in traject("export", "--quiet").stdout.splitlines()]
    assert [line["municipality"] for line in exported] == ["GM0622", "GM0363"]
    # the option is not in the line's key: the same file again skips, another option cannot
    # move the person (the key names the registration in GM0622)
    again = traject("import", "--municipality", "GM0622", str(source))
    moved = traject("import", "--municipality", "GM0599", str(source))
    assert last_line(again.stdout).startswith("0 written, 2 skipped (already present), 0 rejected")
    assert moved.exit_code == 1
    assert "differs in municipality" in moved.stderr
    assert last_line(moved.stdout).startswith("0 written, 1 skipped (already present), 1 rejected")


def test_a_municipality_is_checked_against_the_cbs_list_as_on_the_command_line(
    ledger: Traject, tmp_path: Path
) -> None:
    """A code missing from the CBS list is refused with its line, before anything is written;
    a name is taken for its code, as `traject record` takes it."""
    lines = [
        {"kind": "taakstelling-set", "municipality": code, "occurred_on": DAY,
         "period": "2027H1", "target": 5, "source_ref": "circulaire"}
        for code in ("GM9999", "Maassluis")
    ]  # fmt: skip
    source = tmp_path / "targets.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))
    before = ledger.event_count()

    result = ledger("import", str(source))

    assert result.exit_code == 1, result.output
    assert "targets.jsonl:1: municipality: 'GM9999' is not a municipality in the CBS list" in (
        result.stderr
    )
    assert ledger.event_count() == before + 1
    housing = ledger.json("report", "housing", "--period", "2027H1")
    assert [(row["municipality"], row["target"]) for row in housing["rows"]] == [("GM0556", 5)]


PEOPLE_CSV = (
    "person,occurred_on,birth_date,sex,nationality,name\n"
    f"P-1,{DAY},1990-04-02,f,SY,\nP-2,{DAY},1990-04-02,f,SY,Zoë\n"
)
PERSON = {"kind": "person-registered", "person": "P-1", "occurred_on": DAY,
          "birth_date": "1990-04-02", "sex": "f", "nationality": ["SY"]}  # fmt: skip
PEOPLE_JSONL = "".join(
    json.dumps(line, ensure_ascii=False) + "\n"
    for line in (PERSON, PERSON | {"person": "P-2", "name": "Zoë"})
)


@pytest.mark.parametrize(
    ("name", "kind", "text"),
    [
        ("people.csv", ("--kind", "person-registered"), PEOPLE_CSV),
        ("people.jsonl", (), PEOPLE_JSONL),
    ],
)
def test_a_file_that_is_not_utf8_is_refused_before_anything_is_written(
    ledger: Traject, tmp_path: Path, name: str, kind: tuple[str, ...], text: str
) -> None:
    """A file saved in another encoding (Windows-1252, as a spreadsheet may write it) is
    refused with its first such line, and nothing of it is imported, its good lines neither."""
    source = tmp_path / name
    source.write_bytes(text.encode("cp1252"))

    result = ledger("import", *kind, str(source))

    assert result.exit_code == 2, result.output
    number, line = next((n, t) for n, t in enumerate(text.splitlines(), 1) if "ë" in t)
    assert result.stderr == (
        f"Error: {name}:{number}: not UTF-8 text (byte 0xeb at column {line.index('ë') + 1}): "
        "save the file as UTF-8 (in Excel: CSV UTF-8) and import it again; nothing was imported\n"
    )
    assert ledger.event_count() == 0
    source.write_text(text, encoding="utf-8")  # saved as UTF-8, it is imported
    assert ledger("import", *kind, str(source)).exit_code == 0
    assert ledger.event_count() == 2


def ladder_rows(
    person: str, *rows: str, header: str = "person_id;occurred_on;rung;assessor"
) -> str:
    """A `;`-separated ladder CSV (CRLF, as Excel writes it); ``{p}`` and ``{d}`` in a row are
    the person and the day."""
    return (
        "".join(f"{line}\r\n" for line in (header, *rows))
        .replace("{p}", person)
        .replace("{d}", DAY)
    )


def test_a_csv_row_with_a_cell_outside_the_header_s_columns_is_rejected_and_kept(
    ledger: Traject, tmp_path: Path
) -> None:
    """A cell beyond the header's columns, or under a column without a name, is not dropped:
    its row is rejected, and the rejects file keeps the cell; empty ones are what they are."""
    person = ledger.register()
    source = tmp_path / "ladder.csv"
    text = ladder_rows(
        person,
        "{p};{d};3;r.jansen;;",  # trailing empty cells: imported
        "{p};{d};4;r.jansen;extra",  # a cell beyond the header: rejected
        "{p};{d};5;r.jansen;;note",
        header="person_id;occurred_on;rung;assessor;",  # an unnamed (empty) last column
    )
    source.write_text(text, newline="")

    result = ledger("import", "--kind", "ladder-assessed", str(source))

    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines()[:2] == [
        f"{source}:3: line: a cell outside the header's columns: 'extra' "
        "(give it a column name in the header, or remove it)",
        f"{source}:4: line: a cell outside the header's columns: 'note' "
        "(give it a column name in the header, or remove it)",
    ]
    assert last_line(result.stdout).startswith("1 written, 0 skipped (already present), 2 rejected")
    rejects = (tmp_path / "ladder.rejects.csv").read_text().splitlines()
    assert rejects[1].startswith(f";{person};{DAY};;4;r.jansen;")
    assert rejects[1].endswith(";extra")
    assert rejects[2].endswith(";note")
    again = ledger("import", "--kind", "ladder-assessed", str(tmp_path / "ladder.rejects.csv"))
    assert "a cell outside the header's columns: 'extra'" in again.stderr  # still not dropped
    assert ledger.event_count() == 2


def test_an_empty_row_of_a_spreadsheet_is_skipped_as_a_blank_line(
    ledger: Traject, tmp_path: Path
) -> None:
    """Excel saves an empty row as its separators only (`;;;`): no fact, so no rejected line."""
    person = ledger.register()
    source = tmp_path / "ladder.csv"
    source.write_text(ladder_rows(person, "{p};{d};3;x", ";;;", "", " ; ;;", "{p};{d};4;x", ";;;"))

    result = ledger("import", "--kind", "ladder-assessed", str(source))

    assert result.exit_code == 0, result.output
    assert last_line(result.stdout).startswith("2 written, 0 skipped (already present), 0 rejected")
    assert not (tmp_path / "ladder.rejects.csv").exists()


def test_a_header_s_names_are_read_without_their_spaces_and_case(
    ledger: Traject, tmp_path: Path
) -> None:
    person = ledger.register()
    source = tmp_path / "ladder.csv"
    header = " Person_ID ;OCCURRED_ON; Rung;Assessor ;_Remark"
    source.write_text(ladder_rows(person, "{p};{d};3;r.jansen;checked", header=header))

    result = ledger("import", "--kind", "ladder-assessed", str(source))

    assert result.exit_code == 0, result.output
    assert ledger.json("timeline", person)["events"][-1]["recorded"]["fields"]["rung"] == 3


@pytest.mark.parametrize(
    ("header", "message"),
    [
        pytest.param(
            "person_id;occurred_on;rung;Assessed By",
            "ladder.csv:1: column 'Assessed By' is not a column of ladder-assessed: its columns "
            "are person, person_id, occurred_on, recorded_at, rung, assessor, municipality, "
            "source, recorded_by, idempotency_key, evidence (and notes, named _…); "
            "nothing was imported",
            id="unknown",
        ),
        pytest.param(
            "person_id;occurred_on;rung;assessor;Rung",
            "ladder.csv:1: column 'Rung' is given twice (columns 3 and 5): which one holds the "
            "value? nothing was imported",
            id="twice",
        ),
        pytest.param(
            "",
            "ladder.csv:1: the first line must be the header row, the names of the columns; "
            "nothing was imported",
            id="no-header",
        ),
        pytest.param(
            "person_id\toccurred_on\trung\tassessor",
            "ladder.csv:1: the header's names are separated by tabs: save the file as CSV with , "
            "or ; between the cells; nothing was imported",
            id="tabs",
        ),
    ],
)
def test_a_header_with_an_unknown_or_repeated_column_is_refused_before_anything_is_written(
    ledger: Traject, tmp_path: Path, header: str, message: str
) -> None:
    """Every row would lose that column's value: the file is refused once, by its header."""
    person = ledger.register()
    source = tmp_path / "ladder.csv"
    source.write_text(ladder_rows(person, "{p};{d};3;r.jansen;4", header=header))

    result = ledger("import", "--kind", "ladder-assessed", str(source))

    assert result.exit_code == 2, result.output
    assert result.stderr == f"Error: {message}\n"
    assert ledger.event_count() == 1
    assert not (tmp_path / "ladder.rejects.csv").exists()


def test_a_kind_column_must_name_the_kind_of_the_file(ledger: Traject, tmp_path: Path) -> None:
    """A `kind` column may repeat --kind; a row of another kind is rejected, never recorded
    as that other kind."""
    source = tmp_path / "people.csv"
    source.write_text(
        "kind,person,occurred_on,birth_date,sex,nationality\n"
        f"person-registered,P-1,{DAY},1990-04-02,f,SY\n"
        f"PersonRegistered,P-2,{DAY},1990-04-02,f,SY\n"
        f"ladder-assessed,P-3,{DAY},1990-04-02,f,SY\n"
    )

    result = ledger("import", "--kind", "person-registered", str(source))

    assert result.exit_code == 1, result.output
    assert [line for line in result.stderr.splitlines() if line] == [
        f"{source}:4: kind: 'ladder-assessed' in a file of person-registered rows (--kind)"
    ]
    assert ledger.event_count() == 2


def test_the_rejects_file_keeps_a_row_s_note_and_alias_columns(
    ledger: Traject, tmp_path: Path
) -> None:
    source = tmp_path / "pip.csv"
    source.write_text(f"person_id,DagtekeningInitielePIP,_remark\n{uuid4()},{DAY},from the CRM\n")

    result = ledger("import", "--kind", "pip-adopted", str(source))

    assert result.exit_code == 1, result.output
    rejects = (tmp_path / "pip.rejects.csv").read_text().splitlines()
    assert rejects[0].endswith(",DagtekeningInitielePIP,_remark,_line,_error")
    assert f",{DAY},from the CRM,2," in rejects[1]


def test_a_clean_run_removes_the_rejects_file_of_an_earlier_run(
    ledger: Traject, tmp_path: Path
) -> None:
    """The rejects file is this run's: fixed in the source and imported again, the lines
    leave no earlier rejects behind to be imported twice."""
    person = ledger.register()
    source = tmp_path / "ladder.jsonl"
    line = {"kind": "ladder-assessed", "person_id": person, "occurred_on": DAY, "assessor": "x"}
    source.write_text(json.dumps(line | {"rung": 9}) + "\n")
    assert ledger("import", str(source)).exit_code == 1
    rejects = tmp_path / "ladder.rejects.jsonl"
    assert rejects.exists()

    source.write_text(json.dumps(line | {"rung": 3}) + "\n")
    dry = ledger("import", "--dry-run", str(source))
    assert dry.exit_code == 0 and not rejects.exists()
    result = ledger("import", str(source))

    assert result.exit_code == 0, result.output
    assert not rejects.exists()
    assert ledger.event_count() == 2


def test_a_rejects_file_that_cannot_be_written_whole_leaves_the_earlier_one(
    ledger: Traject, tmp_path: Path
) -> None:
    """The rejects file is written under another name and renamed over the earlier one only
    once it is complete: an import that cannot finish writing it (here the file size limit of
    the process, as a full disk) leaves the earlier run's file as it was, and no other."""
    source = tmp_path / "ladder.jsonl"
    line = {"kind": "ladder-assessed", "occurred_on": DAY, "rung": 3, "assessor": "x" * 150}
    source.write_text("".join(json.dumps(line | {"person": f"K-{n}"}) + "\n" for n in range(3000)))
    rejects = tmp_path / "ladder.rejects.jsonl"
    rejects.write_text('{"_line": 1, "_error": "an earlier run"}\n')
    (tmp_path / "ladder.rejects.jsonl.partial").write_text("what a killed run left")
    env = {k: v for k, v in {**os.environ, **ledger.env}.items() if v is not None}
    command = [str(Path(sys.executable).with_name("traject")), "import", "--quiet", str(source)]

    def small_files() -> None:  # the ledger's files are larger already, and are not grown
        resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, 256 * 1024))

    limited = subprocess.run(
        command, env=env, capture_output=True, text=True, preexec_fn=small_files, check=False
    )

    assert limited.returncode == 1
    assert limited.stderr.splitlines()[-1] == (
        f"Error: {rejects}: cannot write the rejected lines (File too large); the other lines "
        "are imported"
    )
    assert rejects.read_text() == '{"_line": 1, "_error": "an earlier run"}\n'
    assert sorted(p.name for p in tmp_path.glob("ladder.*")) == [
        "ladder.jsonl",
        "ladder.rejects.jsonl",
    ]
    # without the limit, the run's rejects replace the earlier ones
    again = ledger("import", "--quiet", str(source))
    assert again.exit_code == 1
    assert len(rejects.read_text().splitlines()) == 3000
    assert not (tmp_path / "ladder.rejects.jsonl.partial").exists()


def test_a_key_given_twice_in_a_json_line_rejects_it_with_both_values_kept(
    ledger: Traject, tmp_path: Path
) -> None:
    """JSON leaves a repeated key to the reader, which would keep one value and drop the other
    without a word: the line is rejected, and its text goes to the rejects file as it was."""
    person = ledger.register()
    line = f'"kind": "ladder-assessed", "person_id": "{person}", "occurred_on": "{DAY}"'
    twice = "{" + line + ', "rung": 3, "assessor": "x", "rung": 4}'
    nested = (
        '{"kind": "event-corrected", "person_id": "' + person + '", "target": 1, '
        '"changes": {"sex": "m", "sex": "x"}, "reason": "typo"}'
    )
    quoted = "{" + line + ', "rung": 3, "assessor": "x \\": y\\":", "_note": "a \\":"}'
    spaced = "{" + line + ', "rung" : 3, "assessor": "y", "rung":5}'  # a space before a colon
    source = tmp_path / "ladder.jsonl"
    source.write_text(f"{twice}\n{nested}\n{quoted}\n{spaced}\n")

    result = ledger("import", str(source))

    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines()[:3] == [
        f"{source}:1: rung: given twice in the line (3, then 4): give it once",
        f"{source}:2: changes.sex: given twice in the line ('m', then 'x'): give it once",
        f"{source}:4: rung: given twice in the line (3, then 5): give it once",
    ]
    assert last_line(result.stdout).startswith("1 written, 0 skipped (already present), 3 rejected")
    rejects = [
        json.loads(text)
        for text in (tmp_path / "ladder.rejects.jsonl").read_text().split("\n")
        if text
    ]
    assert [reject["_text"] for reject in rejects] == [twice, nested, spaced]
    assert ledger.json("timeline", person)["events"][-1]["recorded"]["fields"]["assessor"] == (
        'x ": y":'
    )


def test_a_key_given_twice_in_an_object_within_a_list_is_found() -> None:
    """A CSV cell may hold a JSON list: its elements are not keys, so an object in it that gives
    a key twice is found however many elements the list has."""
    text = '[1, 2, 3, 4, {"rung": 4, "rung": 5}]'
    with pytest.raises(LineRejectedError) as refused:
        refuse_repeated_keys(text, json.loads(text), "changes.")
    assert refused.value.problems == [
        ("changes.rung", "given twice in the line (4, then 5): give it once")
    ]
    quoted = '[1, 2, {"rung": 4, "note": "a\\": b"}]'  # a text value holding a key's end
    refuse_repeated_keys(quoted, json.loads(quoted), "changes.")


def test_a_rejects_file_that_cannot_be_written_refuses_the_import_before_it_writes(
    ledger: Traject, tmp_path: Path
) -> None:
    """Where the rejects file would go is a directory: refused up front, not after the good
    lines are written and the bad ones have nowhere to go."""
    person = ledger.register()
    source = tmp_path / "ladder.jsonl"
    line = {"kind": "ladder-assessed", "person_id": person, "occurred_on": DAY, "assessor": "x"}
    source.write_text(json.dumps(line | {"rung": 3}) + "\n" + json.dumps(line | {"rung": 9}))
    (tmp_path / "ladder.rejects.jsonl").mkdir()

    result = ledger("import", str(source))

    assert result.exit_code == 2, result.output
    assert result.stderr == (
        f"Error: {tmp_path / 'ladder.rejects.jsonl'} is not a file: the rejected lines could "
        "not be written there; move it away and import again. Nothing was imported\n"
    )
    assert ledger.event_count() == 1


def test_a_csv_cell_of_json_is_read_as_strictly_as_a_json_line(
    ledger: Traject, tmp_path: Path
) -> None:
    """The `changes` of a correction in a CSV cell: a key given twice rejects the row, as in
    a JSON line; a cell that is not JSON is told what it should hold."""
    person = ledger.assessed_person()
    source = tmp_path / "fixes.csv"
    source.write_text(
        "person_id;target;changes;reason\n"
        f'{person};2;"{{""rung"": 4, ""rung"": 5}}";typo\n'
        f"{person};2;{{rung: 4}};typo\n"
        f'{person};2;"{{""rung"": 4}}";typo\n'
    )

    result = ledger("import", "--kind", "event-corrected", str(source))

    assert result.exit_code == 1, result.output
    assert [line for line in result.stderr.splitlines() if line] == [
        f"{source}:2: changes.rung: given twice in the line (4, then 5): give it once",
        f'{source}:3: changes: not a JSON object of field: new value, e.g. {{"rung": 3}}',
    ]
    assert ledger.json("timeline", person)["events"][1]["effective"]["fields"]["rung"] == 4


def test_a_whole_number_too_large_for_a_stored_fact_rejects_its_line(
    ledger: Traject, tmp_path: Path
) -> None:
    """JSON numbers of a stored fact are 64-bit: a larger whole number, as text or as a JSON
    number, is refused by name (it broke the whole batch with a traceback)."""
    person = ledger.register()
    huge = 10**30
    applied = {"kind": "family-reunification-applied", "person_id": person, "occurred_on": DAY}
    lines = [applied | {"members": ["partner"], "file_no": str(huge)}]
    lines += [applied | {"members": ["kind"], "file_no": float(huge)}]
    source = tmp_path / "big.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))

    result = ledger("import", str(source))

    assert result.exit_code == 1, result.output
    assert [line for line in result.stderr.splitlines() if line] == [
        f"{source}:1: file_no: {huge} is too large: at most {2**63 - 1}",
        f"{source}:2: file_no: 1e+30 is too large: at most {2**63 - 1}",
    ]
