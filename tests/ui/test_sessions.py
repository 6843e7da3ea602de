"""The signed session cookie on its own: genuine, tampered, expired, and its secret file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from sightlog.ui.sessions import SECRET_FILE, SessionCodec, load_secret

HASH = "ab" * 32


def test_a_cookie_names_its_key_until_it_expires() -> None:
    codec = SessionCodec(b"s" * 32, lifetime=60)
    value = codec.issue(HASH, now=1000)
    assert codec.read(value, now=1059) == HASH
    assert codec.read(value, now=1060) is None


@pytest.mark.parametrize(
    "mangle",
    [
        lambda v: v[:-1] + ("A" if v[-1] != "A" else "B"),  # another MAC
        lambda v: "v2" + v[2:],  # unknown version
        lambda v: v.split(".")[0] + ".e30." + v.split(".")[2],  # another payload, old MAC
        lambda v: "garbage",
        lambda v: "",
    ],
)
def test_tampered_cookies_are_refused(mangle: object) -> None:
    codec = SessionCodec(b"s" * 32)
    assert callable(mangle)
    assert codec.read(mangle(codec.issue(HASH))) is None


def test_another_secret_refuses_the_cookie() -> None:
    assert SessionCodec(b"t" * 32).read(SessionCodec(b"s" * 32).issue(HASH)) is None


def test_the_secret_file_is_made_once_and_private(tmp_path: Path) -> None:
    first = load_secret(tmp_path)
    assert load_secret(tmp_path) == first and len(first) == 64
    assert stat.S_IMODE((tmp_path / SECRET_FILE).stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [SECRET_FILE]
    assert load_secret(tmp_path, "x" * 40) == b"x" * 40
    with pytest.raises(ValueError, match="at least"):
        load_secret(tmp_path, "short")
