"""Helpers shared by the report commands: the period type, the as-known-at help and the basis
of a report (what its figures were computed from)."""

from __future__ import annotations

from typing import Any

import click

from ledger.values import Period


class PeriodType(click.ParamType[Period]):
    """A reporting period: 2024 (year), 2024H1 / 2024-H1 (half-year), 2024Q3 (quarter)."""

    name = "period"

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str:
        return "2024H1"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> Period:
        if isinstance(value, Period):
            return value
        try:
            return Period.parse(str(value))
        except ValueError as error:
            self.fail(str(error), param, ctx)


AS_KNOWN_AT_HELP = (
    "count only what was recorded up to this moment, ignoring later corrections: an ISO "
    "date-time (UTC unless it names an offset) or a date (00:00 UTC that day)"
)


def basis(name: str, position: int, rule_version: str, digest: str | None) -> dict[str, Any]:
    return {
        "projection": name,
        "position": position,
        "rule_version": rule_version,
        "digest": digest,
    }


def basis_caption(position: int, rule_version: str, digest: str | None) -> str:
    return (
        f"events up to notification {position}, rules {rule_version}, digest {(digest or '-')[:16]}"
    )
