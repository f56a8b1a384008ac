"""The life-course read models give the same digest and figures on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import test_projection_cohort as p4
import test_projection_guidance as p8
import test_projection_helprequests as p10
import test_projection_pvt as p11
import test_projection_reunification as p9
from projection_events import append

from ledger.values import Period
from projections import Projection, Views, digest
from projections.cohort import COHORT, cohort
from projections.guidance import GUIDANCE, guidance
from projections.helprequests import HELP_REQUESTS, help_requests
from projections.pvt import PVT, pvt
from projections.reunification import REUNIFICATION, reunification

Y2024 = Period.parse("2024")
CASES: dict[str, tuple[Projection, Callable[[], Any], Callable[[Views], Any]]] = {
    "cohort": (COHORT, p4.scenario, lambda views: cohort(views, 2024)),
    "guidance": (GUIDANCE, p8.scenario, lambda views: guidance(views, Y2024)),
    "reunification": (REUNIFICATION, p9.scenario, lambda views: reunification(views, Y2024)),
    "helprequests": (HELP_REQUESTS, p10.scenario, lambda views: help_requests(views, Y2024)),
    "pvt": (PVT, p11.scenario, lambda views: pvt(views, Y2024)),
}


def without_position(report: Any) -> dict[str, Any]:
    # notification ids differ between stores (PostgreSQL ids have gaps): compare the rest
    return {k: v for k, v in vars(report).items() if k != "position"}


@pytest.mark.postgres
@pytest.mark.parametrize("name", list(CASES))
def test_the_same_digest_and_figures_on_sqlite_and_postgresql(
    name: str, make_ledger: Any, sqlite_store: str, projection_pg: Any
) -> None:
    projection, scenario, query = CASES[name]
    events, _ = scenario()
    results = []
    for url in (sqlite_store, projection_pg()):
        app = make_ledger(url)
        append(app, events)
        views = Views(app)
        report = query(views)
        results.append((digest(views, projection), without_position(report)))
    assert results[0] == results[1]
    assert results[0][1]["digest"] == results[0][0]
