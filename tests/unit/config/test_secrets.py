"""tocsin.config.secrets: one reader for every ``*_file`` secret."""

from __future__ import annotations

import pytest

from tocsin.config.secrets import SecretFileError, read_secret_file, read_url_file
from tocsin.config.types import URL, Secret


def test_the_secret_is_read_stripped_and_hidden_in_reprs(tmp_path):
    path = tmp_path / "token"
    path.write_text("  hunter2-token\n\n")
    secret = read_secret_file(str(path), "bearer_token_file")
    assert secret == "hunter2-token"
    assert isinstance(secret, Secret)
    assert "hunter2" not in repr(secret)


def test_it_is_read_again_at_each_call_so_it_can_be_rotated(tmp_path):
    path = tmp_path / "token"
    path.write_text("old\n")
    assert read_secret_file(str(path), "f") == "old"
    path.write_text("new\n")
    assert read_secret_file(str(path), "f") == "new"


def test_a_missing_file_names_the_field_and_the_path(tmp_path):
    with pytest.raises(SecretFileError) as exc:
        read_secret_file(f"{tmp_path}/missing", "hmac_secret_file")
    assert str(exc.value) == f"hmac_secret_file: cannot read {tmp_path}/missing: No such file or directory"


def test_a_directory_or_non_utf8_file_is_an_error_not_a_crash(tmp_path):
    with pytest.raises(SecretFileError, match=r"^f: cannot read .*: Is a directory$"):
        read_secret_file(str(tmp_path), "f")
    binary = tmp_path / "bin"
    binary.write_bytes(b"\xff\xfe secret")
    with pytest.raises(SecretFileError) as exc:
        read_secret_file(str(binary), "password_file")
    assert str(exc.value) == f"password_file: cannot read {binary}: it is not UTF-8 text"


def test_a_url_file_holds_an_http_url_which_is_never_echoed(tmp_path):
    path = tmp_path / "url"
    path.write_text("https://hooks.example.test/T0/B0/s3cr3t\n")
    url = read_url_file(str(path), "url_file")
    assert url == "https://hooks.example.test/T0/B0/s3cr3t"
    assert isinstance(url, URL)
    path.write_text("ftp://user:s3cr3t@host/\n")
    with pytest.raises(SecretFileError) as exc:
        read_url_file(str(path), "api_url_file")
    assert str(exc.value) == f"api_url_file: {path} does not hold an http(s) URL"
    assert "s3cr3t" not in str(exc.value)
