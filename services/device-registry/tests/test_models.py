"""Identifiers and registration codes."""

import pytest

from device_registry.models import InvalidIdentifier, hash_code, looks_like_mac, normalise_mac, verify_code


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("00:09:0f:aa:bb:cc", "00:09:0F:AA:BB:CC"),
        ("00-09-0F-AA-BB-CC", "00:09:0F:AA:BB:CC"),
        ("0009.0faa.bbcc", "00:09:0F:AA:BB:CC"),
        ("00090FAABBCC", "00:09:0F:AA:BB:CC"),
        (" 00:09:0F:AA:BB:CC ", "00:09:0F:AA:BB:CC"),
    ],
)
def test_mac_addresses_are_normalised(raw: str, expected: str) -> None:
    assert normalise_mac(raw) == expected


@pytest.mark.parametrize(
    "raw", ["", "00:09:0F:AA:BB", "00:09:0F:AA:BB:CC:DD", "GG:09:0F:AA:BB:CC", "01:00:5E:00:00:01"]
)
def test_invalid_mac_addresses_are_refused(raw: str) -> None:
    with pytest.raises(InvalidIdentifier):
        normalise_mac(raw)


def test_identifier_kind() -> None:
    assert looks_like_mac("00:09:0F:AA:BB:CC")
    assert not looks_like_mac("FGT60FTK2109ABCD")


def test_codes_are_hashed_and_verified_loosely_formatted() -> None:
    stored = hash_code("7K2M-9QXD-4ABF")
    assert "7K2M" not in stored
    assert verify_code("7k2m9qxd4abf", stored)
    assert verify_code("7K2M 9QXD 4ABF", stored)
    assert not verify_code("7K2M-9QXD-4ABG", stored)
    assert not verify_code("", stored)
