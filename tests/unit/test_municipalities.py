"""The dated CBS municipality list: its contents, and resolving what users type into a code."""

from __future__ import annotations

import re
from importlib import resources

import pytest

from ledger.municipalities import (
    LISTS,
    AmbiguousMunicipalityError,
    UnknownMunicipalityError,
    dissolved,
    label,
    municipality_list,
    name_of,
    resolve,
)


def test_the_2025_list_holds_the_342_municipalities_with_well_known_codes() -> None:
    listing = municipality_list(2025)
    assert len(listing) == 342
    assert all(re.fullmatch(r"GM\d{4}", code) for code in listing.names)
    assert len(set(listing.names.values())) == 342  # no name twice
    for code, name in {
        "GM0363": "Amsterdam",
        "GM0518": "'s-Gravenhage",
        "GM0599": "Rotterdam",
        "GM0344": "Utrecht",
        "GM0622": "Vlaardingen",
        "GM0556": "Maassluis",
        "GM0796": "'s-Hertogenbosch",
        "GM1992": "Voorne aan Zee",
    }.items():
        assert listing.names[code] == name
    assert "CBS" in listing.source


def test_dissolved_municipalities_are_not_in_the_list_and_point_to_an_existing_one() -> None:
    listing = municipality_list()
    for gone in dissolved().values():
        assert gone.code not in listing.names
        assert gone.merged_into in listing.names
    assert dissolved()["GM0457"].merged_into == "GM0363"  # Weesp into Amsterdam


def test_the_data_files_ship_inside_the_ledger_package() -> None:
    data = resources.files("ledger").joinpath("data")
    assert all(data.joinpath(name).is_file() for name in LISTS.values())
    assert max(LISTS) == municipality_list().year


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("GM0363", "GM0363"),
        ("gm0363", "GM0363"),
        (" 0363 ", "GM0363"),
        ("Amsterdam", "GM0363"),
        ("AMSTERDAM", "GM0363"),
        ("'s-Gravenhage", "GM0518"),
        ("s-gravenhage", "GM0518"),
        ("Den Haag", "GM0518"),
        ("'s-Hertogenbosch", "GM0796"),
        ("Den Bosch", "GM0796"),
        ("Hengelo", "GM0164"),  # Hengelo (O.): the only Hengelo
        ("Sudwest-Fryslan", "GM1900"),  # accents folded
        ("gemeente Vlaardingen", "GM0622"),
        ("Alphen aan den Rijn", "GM0484"),
        ("GM0457", "GM0457"),  # a dissolved code still names its old facts
    ],
)
def test_a_code_or_name_resolves_to_the_cbs_code(typed: str, code: str) -> None:
    assert resolve(typed) == code


def test_an_unknown_name_names_close_matches() -> None:
    with pytest.raises(
        UnknownMunicipalityError, match=r"'Amsterdm' is not a .*did you mean Amsterdam"
    ):
        resolve("Amsterdm")
    with pytest.raises(UnknownMunicipalityError, match=r"'GM9999' is not a municipality"):
        resolve("GM9999")


def test_the_first_words_of_a_long_name_suggest_it() -> None:
    # "Nuenen" is how the municipality Nuenen, Gerwen en Nederwetten is called; the close
    # matches compare whole names, so it found nothing to suggest
    with pytest.raises(
        UnknownMunicipalityError,
        match=r"'Nuenen' is not a .*; did you mean Nuenen, Gerwen en Nederwetten\?$",
    ):
        resolve("Nuenen")


def test_a_short_name_that_fits_two_municipalities_is_refused() -> None:
    with pytest.raises(AmbiguousMunicipalityError, match=r"GM0373 Bergen \(NH\.\), GM0893"):
        resolve("Bergen")


def test_a_dissolved_name_says_where_it_went() -> None:
    with pytest.raises(
        UnknownMunicipalityError, match="merged into GM0363 Amsterdam on 2022-03-24"
    ):
        resolve("Weesp")


def test_labels_show_the_name_beside_the_code() -> None:
    assert label("GM0622") == "GM0622 Vlaardingen"
    assert label("GM0457") == "GM0457 Weesp (opgeheven 2022-03-24)"
    assert label("GM9999") == "GM9999"
    assert name_of("GM9999") is None
