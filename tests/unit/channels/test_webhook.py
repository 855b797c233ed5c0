"""tocsin.channels.webhook: the URL and the signing secret read from files at each send."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from tocsin.channels import ChannelContext, DeliveryError
from tocsin.channels.webhook import WebhookChannel, WebhookConfig


def channel(**config: str) -> WebhookChannel:
    ctx = ChannelContext(session=None, external_url="", global_config=None,  # type: ignore[arg-type]
                         receiver="ops", integration="webhook[0]")
    return WebhookChannel(WebhookConfig(**config), ctx)


def test_url_file_and_hmac_secret_file_are_read_at_each_send(tmp_path):
    url, secret = tmp_path / "url", tmp_path / "secret"
    url.write_text("http://127.0.0.1:9/first\n")
    secret.write_text("one\n")
    ch = channel(url_file=str(url), hmac_secret_file=str(secret))
    assert ch.url() == "http://127.0.0.1:9/first"
    sign = ch.signature_headers(b"{}")
    assert sign == {"X-Tocsin-Signature": "sha256=" + hmac.new(b"one", b"{}", hashlib.sha256).hexdigest()}
    url.write_text("http://127.0.0.1:9/second\n")
    secret.write_text("two\n")
    assert ch.url() == "http://127.0.0.1:9/second"
    assert ch.signature_headers(b"{}") != sign


def test_an_unreadable_file_fails_the_send_for_good_naming_its_field(tmp_path):
    missing = f"{tmp_path}/missing"
    with pytest.raises(DeliveryError) as exc:
        channel(url_file=missing).url()
    assert str(exc.value) == f"url_file: cannot read {missing}: No such file or directory"
    assert exc.value.retryable is False
    with pytest.raises(DeliveryError) as exc:
        channel(url="http://127.0.0.1:9/", hmac_secret_file=missing).signature_headers(b"{}")
    assert str(exc.value) == f"hmac_secret_file: cannot read {missing}: No such file or directory"
    assert exc.value.retryable is False
