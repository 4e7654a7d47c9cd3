"""Calendar-user addresses are compared the way mail systems compare them."""

from __future__ import annotations

import pytest

from kalend.scheduling.addresses import is_mailto, normalize


def test_mailto_addresses_compare_without_case() -> None:
    assert (
        normalize("mailto:Bob@Example.COM")
        == normalize("mailto:bob@example.com")
        == "mailto:bob@example.com"
    )


def test_mailto_scheme_is_recognised_in_any_case_and_with_spaces() -> None:
    assert normalize("  MAILTO:Carol@Example.com \r\n") == "mailto:carol@example.com"


def test_other_uris_keep_their_case_but_fold_the_scheme() -> None:
    assert normalize("URN:uuid:3F2504E0-4F89-11D3") == "urn:uuid:3F2504E0-4F89-11D3"
    assert (
        normalize("https://cal.example/Principals/Alice/")
        == "https://cal.example/Principals/Alice/"
    )


@pytest.mark.parametrize("blank", ["", "   ", None])
def test_blank_address_normalises_to_empty(blank: str | None) -> None:
    assert normalize(blank) == ""  # type: ignore[arg-type]


def test_only_mailto_addresses_are_reachable_by_mail() -> None:
    assert is_mailto("MAILTO:dave@elsewhere.example")
    assert not is_mailto("urn:uuid:1234")
    assert not is_mailto("")
