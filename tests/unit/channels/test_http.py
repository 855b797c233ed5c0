"""tocsin.channels.http: ``http_config`` credentials kept in files, and reading a channel's ``*_file``
secrets as a delivery does (read at each use; unreadable: a failure that is not retried)."""

from __future__ import annotations

import base64

import pytest

from tocsin.channels import DeliveryError
from tocsin.channels.http import Authorization, BasicAuth, HTTPConfig, secret_from_file, url_from_file


def test_secret_files_are_read_at_each_call_so_they_can_be_rotated(tmp_path):
    path = tmp_path / "token"
    path.write_text("first\n")
    config = HTTPConfig(bearer_token_file=str(path))
    assert config.headers() == {"Authorization": "Bearer first"}
    path.write_text("second\n")
    assert config.headers() == {"Authorization": "Bearer second"}
    assert HTTPConfig(authorization=Authorization(type="Token", credentials_file=str(path))).headers() == {
        "Authorization": "Token second"}
    basic = HTTPConfig(basic_auth=BasicAuth(username="ops", password_file=str(path))).headers()
    assert basic == {"Authorization": "Basic " + base64.b64encode(b"ops:second").decode()}


@pytest.mark.parametrize(("config", "field"), [
    (lambda p: HTTPConfig(bearer_token_file=p), "http_config.bearer_token_file"),
    (lambda p: HTTPConfig(authorization=Authorization(credentials_file=p)),
     "http_config.authorization.credentials_file"),
    (lambda p: HTTPConfig(basic_auth=BasicAuth(username="u", password_file=p)),
     "http_config.basic_auth.password_file"),
])
def test_an_unreadable_secret_file_fails_for_good_naming_its_field(tmp_path, config, field):
    missing = f"{tmp_path}/missing"
    with pytest.raises(DeliveryError) as exc:
        config(missing).headers()
    assert str(exc.value) == f"{field}: cannot read {missing}: No such file or directory"
    assert exc.value.retryable is False


def test_secret_and_url_from_file(tmp_path):
    path = tmp_path / "url"
    path.write_text("https://hooks.example.test/T0/s3cr3t\n")
    assert url_from_file(str(path), "webhook_url_file") == "https://hooks.example.test/T0/s3cr3t"
    assert secret_from_file(str(path), "x_file") == "https://hooks.example.test/T0/s3cr3t"
    path.write_text("not a url s3cr3t")
    with pytest.raises(DeliveryError) as exc:
        url_from_file(str(path), "webhook_url_file")
    assert str(exc.value) == f"webhook_url_file: {path} does not hold an http(s) URL"
    assert exc.value.retryable is False
    assert "s3cr3t" not in str(exc.value)
