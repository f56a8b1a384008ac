"""Rendering is pure: ledger results in, rich renderables or JSON-ready data out."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from uuid import uuid4

from rich.console import Console, RenderableType

from commands import render, tables
from ledger import events as ev
from ledger.application import PersonSummary, Recorded

NOW = datetime(2024, 6, 2, 12, 0, tzinfo=UTC)


def text_of(renderable: RenderableType, width: int = 100) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(renderable)
    out = console.file
    assert isinstance(out, io.StringIO)
    return out.getvalue()


def summary(*, erased: bool = False) -> PersonSummary:
    person = uuid4()
    registration = ev.PersonRegistered(
        originator_id=person,
        originator_version=1,
        timestamp=NOW,
        occurred_on=date(2024, 6, 1),
        recorded_by="r.jansen",
        municipality="GM0622",
        birth_date=date(1990, 4, 2),
        sex="f",
        nationality=("SY",),
        name=None if erased else "[red]Noor[/red] Vermeulen",
    )
    return PersonSummary(person, registration, 3, "GM0622", {"case": "open"}, erased)


def test_user_text_is_never_read_as_markup() -> None:
    shown = text_of(tables.person_table(summary()))

    assert "[red]Noor[/red] Vermeulen" in shown


def test_erased_personal_fields_are_marked_not_blank() -> None:
    shown = text_of(tables.person_table(summary(erased=True)))
    data = render.person_json(summary(erased=True))

    assert "[erased]" in shown
    assert data["erased"] is True
    assert data["registration"]["fields"]["name"] is None
    assert data["registration"]["fields"]["bsn"] is None


def test_a_write_is_reported_by_stream() -> None:
    person, municipality = uuid4(), ev.municipality_stream_id("GM0622")

    assert str(render.recorded(Recorded(person, 4, "Housed"), ev.StreamKind.PERSON, "3219ed")) == (
        f"Recorded Housed as version 4 of {person}"
    )
    assert str(
        render.recorded(
            Recorded(municipality, 1, "TaakstellingSet"), ev.StreamKind.MUNICIPALITY, "GM0622"
        )
    ) == ("Recorded TaakstellingSet as version 1 of municipality GM0622")
    data = render.recorded_json(
        Recorded(person, 4, "Housed", ("late",), duplicate=True), ev.StreamKind.PERSON, "3219ed"
    )
    assert data == {
        "stream": "person",
        "subject": str(person),
        "stream_id": str(person),
        "kind": "Housed",
        "version": 4,
        "duplicate": True,
        "warnings": ["late"],
    }
