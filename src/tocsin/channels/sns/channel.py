"""Sending to Amazon SNS: the ``Publish`` action of SNS's query API, signed with SigV4.

One ``POST`` to the endpoint per notification, a form (``application/x-www-form-urlencoded;
charset=utf-8``) with ``Action=Publish``, ``Version=2010-03-31``, the target
(``TopicArn``, ``PhoneNumber`` or ``TargetArn``), ``Subject``, ``Message`` and the
``attributes`` as ``MessageAttributes.entry.N`` String values, fields sorted as
Alertmanager's SDK writes them. A FIFO topic (its ARN ends ``.fifo``) also gets
``MessageGroupId`` and ``MessageDeduplicationId``, both the SHA-256 of the group key. A
message over SNS's limit (256 KiB, 1600 bytes for an SMS) is cut, and the message attribute
``truncated`` says so.
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import urlencode

import structlog

from tocsin.channels import ChannelContext, DeliveryError, rendered
from tocsin.channels.amtemplates import render, with_notice
from tocsin.channels.http import request
from tocsin.channels.sns.config import SNSConfig
from tocsin.core.models import Notification
from tocsin.notify.templates import data

__all__ = ["CONTENT_TYPE", "MAX_MESSAGE_BYTES", "MAX_SMS_BYTES", "SNSChannel", "cut_bytes"]

log = structlog.get_logger("tocsin.notify.sns")

CONTENT_TYPE = "application/x-www-form-urlencoded; charset=utf-8"
API_VERSION = "2010-03-31"
MAX_MESSAGE_BYTES = 256 * 1024
MAX_SMS_BYTES = 1600


def cut_bytes(s: str, limit: int) -> tuple[str, bool]:
    """At most ``limit`` bytes of UTF-8, never a split character; and whether it was cut."""
    raw = s.encode(errors="replace")
    if len(raw) <= limit:
        return s, False
    return raw[:limit].decode(errors="ignore"), True


class SNSChannel:
    def __init__(self, config: SNSConfig, ctx: ChannelContext) -> None:
        self.config = config
        self.ctx = ctx
        self.http = config.http_config or getattr(ctx.global_config, "http_config", None)
        # botocore (about 9 MiB resident) is imported only by a config with an SNS receiver.
        from tocsin.channels.sns.aws import AWSCredentials

        self.credentials = AWSCredentials(config.sigv4)

    def _render(self, source: str, d: dict[str, Any], what: str) -> str:
        return render(self.ctx, source, d, what) if source else ""

    def params(self, n: Notification) -> dict[str, str]:
        """The form's fields, sorted."""
        c = self.config
        d = data(n, self.ctx.external_url)
        out = {"Action": "Publish", "Version": API_VERSION}
        attributes = {self._render(k, d, f"attributes.{k}"): self._render(v, d, f"attributes.{k}")
                      for k, v in c.attributes.items()}
        limit = MAX_MESSAGE_BYTES
        if c.topic_arn:
            topic = out["TopicArn"] = self._render(c.topic_arn, d, "topic_arn")
            if topic.endswith(".fifo"):
                key = hashlib.sha256(n.group_key.encode()).hexdigest()
                out["MessageDeduplicationId"] = out["MessageGroupId"] = key
        if c.phone_number:
            out["PhoneNumber"] = self._render(c.phone_number, d, "phone_number")
            limit = MAX_SMS_BYTES
        if c.target_arn:
            out["TargetArn"] = self._render(c.target_arn, d, "target_arn")
        message, cut = cut_bytes(with_notice(n, self._render(c.message, d, "message")), limit)
        if cut:
            attributes["truncated"] = "true"
            log.warning("message cut to SNS's limit", receiver=self.ctx.receiver,
                        integration=self.ctx.integration, max_bytes=limit)
        out["Message"] = message
        if c.subject:
            out["Subject"] = with_notice(n, self._render(c.subject, d, "subject"), " · ")
        for i, (name, value) in enumerate(sorted(attributes.items()), 1):
            prefix = f"MessageAttributes.entry.{i}"
            out[f"{prefix}.Name"] = name
            out[f"{prefix}.Value.DataType"] = "String"
            out[f"{prefix}.Value.StringValue"] = value
        return dict(sorted(out.items()))

    def render(self, n: Notification) -> bytes:
        return urlencode(self.params(n)).encode()

    def endpoint(self, n: Notification, region: str) -> str:
        url = self._render(self.config.api_url, data(n, self.ctx.external_url), "api_url").strip()
        if not url:
            from tocsin.channels.sns.aws import default_endpoint

            return default_endpoint(region)
        if not url.startswith(("http://", "https://")):
            raise DeliveryError(f"api_url: not an http(s) URL: {url[:100]!r}", retryable=False)
        return url

    async def send(self, n: Notification) -> None:
        region = self.credentials.region()
        url = self.endpoint(n, region)
        body = await rendered(self.render, n)
        creds = await self.credentials.frozen()
        from tocsin.channels.sns.aws import signed_headers

        headers = signed_headers(creds, region, url, body, {"Content-Type": CONTENT_TYPE})
        await request(self.ctx.session, "POST", url, body, http=self.http,
                      timeout=float(self.config.timeout), headers=headers)
