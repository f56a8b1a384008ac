"""No personal value is ever stored in clear: a scan of the raw database bytes and rows."""

from __future__ import annotations

import json
from datetime import date
from uuid import uuid4

import pytest
from builders import fresh_bsn, fresh_v_number, person_fields

from ledger import events as ev


def distinctive(label: str) -> str:
    """A value that can only be in the database if we put it there."""
    return f"{label}-{uuid4().hex[:10]}"


def forms(value: str) -> list[bytes]:
    """The byte forms a value could take in storage: UTF-8 and JSON-escaped."""
    return sorted({value.encode(), json.dumps(value)[1:-1].encode()})


@pytest.fixture
def secrets(app) -> dict[str, str]:
    """Two people with personal data in every personal field the write path can reach."""
    values = {
        "name": distinctive("Zoë Geheimnaam"),
        "bsn": fresh_bsn(),
        "v_number": fresh_v_number(),
        "document_no": distinctive("PERMITDOC"),
        "address": distinctive("Geheimstraat 12"),
        "note": distinctive("notitie over schulden"),
        "withdraw_reason": distinctive("ingetrokken omdat"),
        "ind_ref": distinctive("IND-REF"),
        "reopen_reason": distinctive("heropend wegens"),
        "correction_reason": distinctive("correctie omdat"),
        "corrected_name": distinctive("Zoë Nieuwenaam"),
        "retraction_reason": distinctive("ingetrokken wegens"),
        "second_bsn": fresh_bsn(),
        "second_name": distinctive("Tweede Persoon"),
        # free text that can hold health data (domain.md §5.2, §5.5)
        "exemption_ground": distinctive("medisch: slechtziend"),
        "dispensation_ground": distinctive("medisch: PTSS en epilepsie"),
        "extension_ground": distinctive("ziekte: opname"),
        "work_experience": distinctive("lasser, rugklachten"),
    }
    person = app.register_person(
        **person_fields(name=values["name"], bsn=values["bsn"], v_number=values["v_number"])
    ).stream_id
    app.record(
        person,
        ev.ResidencePermitRecorded,
        occurred_on=date(2023, 11, 1),
        permit_kind="asiel_bt",
        notified_on=date(2023, 11, 3),
        document_no=values["document_no"],
    )
    app.record(person, ev.CoaLinked, occurred_on=date(2024, 1, 15), taakstelling_period="2024H1")
    app.record(
        person, ev.CoaLinkWithdrawn, occurred_on=date(2024, 1, 16), reason=values["withdraw_reason"]
    )
    app.record(person, ev.CoaLinked, occurred_on=date(2024, 1, 17), taakstelling_period="2024H1")
    app.record(
        person,
        ev.TenancySigned,
        occurred_on=date(2024, 2, 20),
        housing_kind="regulier",
        address=values["address"],
    )
    app.record(
        person,
        ev.HelpRequestRecorded,
        occurred_on=date(2024, 3, 1),
        category="financien",
        note=values["note"],
    )
    app.record(
        person,
        ev.FamilyReunificationApplied,
        occurred_on=date(2024, 1, 20),
        members=["partner"],
        ind_ref=values["ind_ref"],
    )
    app.record(person, ev.InburgeringDutyEstablished, occurred_on=date(2024, 3, 4),
               duty_start=date(2024, 3, 1))  # fmt: skip
    app.record(person, ev.BroadIntakeCompleted, occurred_on=date(2024, 3, 5), by="c.coach",
               work_experience=values["work_experience"])  # fmt: skip
    app.record(person, ev.ExemptionGranted, occurred_on=date(2024, 3, 6), component="knm",
               ground=values["exemption_ground"])  # fmt: skip
    app.record(person, ev.DispensationGranted, occurred_on=date(2024, 3, 7), component="spreken",
               ground=values["dispensation_ground"])  # fmt: skip
    app.record(person, ev.TermExtended, occurred_on=date(2024, 3, 8), new_end=date(2028, 3, 1),
               ground=values["extension_ground"])  # fmt: skip
    app.record(person, ev.CaseClosed, occurred_on=date(2024, 4, 1), reason="other")
    app.record(
        person, ev.CaseReopened, occurred_on=date(2024, 4, 2), reason=values["reopen_reason"]
    )
    ladder = app.record(
        person,
        ev.LadderAssessed,
        occurred_on=date(2024, 6, 3),
        rung=2,
        assessor="Beoordelaar-Zichtbaar",  # a staff user name: stored in lower case
    )
    app.correct(person, 1, {"name": values["corrected_name"]}, reason=values["correction_reason"])
    app.retract(person, ladder.version, reason=values["retraction_reason"])
    app.register_person(**person_fields(name=values["second_name"], bsn=values["second_bsn"]))

    # the values are really there, for whoever holds the key
    registration = app.person(person).registration
    assert (registration.name, registration.bsn) == (values["corrected_name"], values["bsn"])
    entries = app.timeline(person).entries
    assert entries[6].event.note == values["note"]
    (dispensation,) = [e.event for e in entries if isinstance(e.event, ev.DispensationGranted)]
    assert dispensation.ground == values["dispensation_ground"]
    return values


def assert_absent(blob: bytes, values: dict[str, str], where: str) -> None:
    for field, value in values.items():
        for form in forms(value):
            assert form not in blob, f"{field} ({value!r}) is stored in clear in {where}"


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_sqlite_files_hold_no_personal_value_in_clear(app, secrets, raw):
    # while the ledger is open (the WAL holds the recent pages) and after it is closed
    for moment in ("open", "closed"):
        files = raw.files()
        assert files, "no database file found"
        blob = b"".join(path.read_bytes() for path in files)
        # the scan sees plain text: a non-personal value is found
        assert b"beoordelaar-zichtbaar" in blob
        assert_absent(blob, secrets, f"{[p.name for p in files]} ({moment})")
        app.close()


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"])
def test_the_postgres_tables_hold_no_personal_value_in_clear(app, secrets, raw):
    tables = [
        name
        for (name,) in raw.query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", [raw.schema]
        )
    ]
    assert "traject_events" in tables
    assert {"traject_data_keys", "traject_person_index", "traject_idempotency"} <= set(tables)
    chunks: list[bytes] = []
    for table in tables:
        qualified = f'"{raw.schema}"."{table}"'
        # every row as PostgreSQL's text, and every value raw (bytea as its bytes)
        chunks += [text.encode() for (text,) in raw.query(f"SELECT t::text FROM {qualified} t")]
        for row in raw.query(f"SELECT * FROM {qualified}"):
            for value in row:
                if isinstance(value, bytes | memoryview):
                    chunks.append(bytes(value))
                elif value is not None:
                    chunks.append(str(value).encode())
    blob = b"\n".join(chunks)
    assert b"beoordelaar-zichtbaar" in blob
    assert_absent(blob, secrets, f"schema {raw.schema}")
