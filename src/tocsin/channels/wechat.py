"""The ``wechat`` channel: a WeChat Work (WeCom) application message, as Alertmanager 0.25
sends it.

An access token comes from ``GET {api_url}gettoken?corpid=<corp_id>&corpsecret=<api_secret>``
and is kept until WeChat's ``expires_in`` (less a minute) has passed; each notification is
then ``POST {api_url}message/send?access_token=<token>`` with the JSON object
``{text, touser, toparty, totag, agentid, safe: "0", msgtype, markdown}`` (``text`` or
``markdown`` holds ``{"content": <message>}`` by ``message_type``; the other is empty, and
empty recipients are left out, as Alertmanager writes it). ``message`` defaults to
``wechat.default.message``; ``to_user``, ``to_party``, ``to_tag``, ``agent_id``,
``corp_id`` and ``api_secret`` are templates too.

``api_url``, ``api_secret`` and ``corp_id`` default to the globals ``wechat_api_url``
(``https://qyapi.weixin.qq.com/cgi-bin/``), ``wechat_api_secret[_file]`` and
``wechat_api_corp_id``; a config with no secret or corp id anywhere is refused.

WeChat answers 200 with ``{"errcode", "errmsg"}``: errcode 0 is delivered; an expired or
invalid token (42001, 40014, 40001) drops the token and the attempt is retried with a new
one; -1 (busy) is retried; any other errcode fails for good, with WeChat's errmsg. (Alertmanager
reads fields WeChat does not send, so it counts every 200 as delivered.) The secret and the
token are in URLs: errors show the host only.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import msgspec

from tocsin import hookimpl
from tocsin.channels import ChannelConfig, ChannelContext, ChannelKind, DeliveryError, rendered
from tocsin.channels.amtemplates import WECHAT_MESSAGE, render, with_notice
from tocsin.channels.http import HTTPConfig, request, secret_from_file
from tocsin.config.types import URL, Secret
from tocsin.config.validate import field_error
from tocsin.core.models import Notification
from tocsin.notify.templates import Template, data

__all__ = ["DEFAULT_API_URL", "TOKEN_ERRORS", "WechatChannel", "WechatConfig", "check"]

_encoder = msgspec.json.Encoder()

DEFAULT_API_URL = "https://qyapi.weixin.qq.com/cgi-bin/"
#: errcodes that mean the access token is no good: get a new one and try again.
TOKEN_ERRORS = frozenset({40001, 40014, 42001})
#: WeChat's "system busy, try again".
BUSY = -1


class WechatConfig(ChannelConfig):
    #: Like Alertmanager, WeChat gets no resolved notices unless asked.
    send_resolved: bool = False
    #: Default the global ``wechat_api_url``.
    api_url: URL | None = None
    #: The application's secret (or a file holding it); default the global ``wechat_api_secret[_file]``.
    api_secret: Secret | None = None
    api_secret_file: str | None = None
    #: Default the global ``wechat_api_corp_id``.
    corp_id: str | None = None
    message: Template = Template(WECHAT_MESSAGE)
    to_user: Template = Template("")
    to_party: Template = Template("")
    to_tag: Template = Template("")
    agent_id: Template = Template("")
    message_type: Literal["text", "markdown"] = "text"
    http_config: HTTPConfig | None = None

    def __post_init__(self) -> None:
        if self.api_secret and self.api_secret_file:
            raise field_error("api_secret_file", "set api_secret or api_secret_file, not both")


def check(config: WechatConfig, g: Any) -> list[tuple[str, str]]:
    """A secret and a corp id here or in ``global:``, which the entry alone cannot see."""
    problems = []
    if not (config.api_secret or config.api_secret_file or getattr(g, "wechat_api_secret", None)
            or getattr(g, "wechat_api_secret_file", None)):
        problems.append(("api_secret", "no WeChat API secret: set api_secret or api_secret_file here, "
                                       "or global.wechat_api_secret[_file]"))
    if not (config.corp_id or getattr(g, "wechat_api_corp_id", None)):
        problems.append(("corp_id", "no WeChat corp id: set corp_id here, or global.wechat_api_corp_id"))
    return problems


def _with_path(base: str, path: str, query: dict[str, str]) -> str:
    """``path`` after the base URL's path (which ends with ``/``), and the query, sorted as Go
    encodes it."""
    parts = urlsplit(base)
    prefix = parts.path if parts.path.endswith("/") else parts.path + "/"
    return urlunsplit((parts.scheme, parts.netloc, prefix + path, urlencode(sorted(query.items())), ""))


class WechatChannel:
    def __init__(self, config: WechatConfig, ctx: ChannelContext) -> None:
        self.config = config
        self.ctx = ctx
        g = ctx.global_config
        self.http = config.http_config or getattr(g, "http_config", None)
        self.api_url = str(config.api_url or getattr(g, "wechat_api_url", None) or DEFAULT_API_URL)
        self._token: tuple[str, float] | None = None  # the token and when it stops being used
        self._lock = asyncio.Lock()

    # The access token -----------------------------------------------------------------------

    def secret(self) -> str:
        c, g = self.config, self.ctx.global_config
        if c.api_secret_file:
            return secret_from_file(c.api_secret_file, "api_secret_file")
        if c.api_secret:
            return c.api_secret
        if getattr(g, "wechat_api_secret_file", None):
            return secret_from_file(g.wechat_api_secret_file, "global.wechat_api_secret_file")
        return getattr(g, "wechat_api_secret", None) or ""

    async def token(self, d: dict[str, Any]) -> str:
        async with self._lock:
            if self._token is not None and time.monotonic() < self._token[1]:
                return self._token[0]
            corp_id = self.config.corp_id or getattr(self.ctx.global_config, "wechat_api_corp_id", None) or ""
            query = {"corpid": self._render(corp_id, d, "corp_id"),
                     "corpsecret": self._render(self.secret(), d, "api_secret")}
            url = _with_path(self.api_url, "gettoken", query)
            _, body = await request(self.ctx.session, "GET", url, http=self.http,
                                    timeout=float(self.config.timeout), secret_url=True)
            answer = _json(body, "gettoken")
            token = answer.get("access_token")
            if not isinstance(token, str) or not token:
                code = _errcode(answer)
                raise DeliveryError(f"wechat gettoken: errcode {code}: {answer.get('errmsg', '')} "
                                    f"(corp id {query['corpid']!r})", retryable=code == BUSY)
            expires = answer.get("expires_in")
            ttl = float(expires) if isinstance(expires, int | float) and expires > 0 else 7200.0
            self._token = (token, time.monotonic() + max(0.0, ttl - 60))
            return token

    def forget_token(self) -> None:
        self._token = None

    # The message ----------------------------------------------------------------------------

    def _render(self, source: str, d: dict[str, Any], what: str) -> str:
        return render(self.ctx, source, d, what) if source else ""

    def message(self, n: Notification) -> dict[str, Any]:
        """The ``message/send`` body, keys in Alertmanager's order."""
        c = self.config
        d = data(n, self.ctx.external_url)
        content = {"content": with_notice(n, self._render(c.message, d, "message"))}
        empty = {"content": ""}
        body: dict[str, Any] = {"text": content if c.message_type == "text" else empty}
        for key, source, what in (("touser", c.to_user, "to_user"), ("toparty", c.to_party, "to_party"),
                                  ("totag", c.to_tag, "to_tag"), ("agentid", c.agent_id, "agent_id")):
            value = self._render(source, d, what)
            if value:
                body[key] = value
        body["safe"] = "0"
        body["msgtype"] = c.message_type
        body["markdown"] = content if c.message_type == "markdown" else empty
        return body

    def render(self, n: Notification) -> bytes:
        return _encoder.encode(self.message(n))

    async def send(self, n: Notification) -> None:
        token = await self.token(await rendered(lambda m: data(m, self.ctx.external_url), n))
        parts = urlsplit(self.api_url)
        query = dict(parse_qsl(parts.query))
        query["access_token"] = token
        url = _with_path(self.api_url, "message/send", query)
        body = await rendered(self.render, n)
        _, answer = await request(self.ctx.session, "POST", url, body, http=self.http,
                                  timeout=float(self.config.timeout), secret_url=True)
        reply = _json(answer, "message/send")
        code = _errcode(reply)
        if code == 0:
            return
        if code in TOKEN_ERRORS:
            self.forget_token()
        raise DeliveryError(f"wechat message/send: errcode {code}: {reply.get('errmsg', '')}",
                            retryable=code in TOKEN_ERRORS or code == BUSY)


def _json(body: bytes, what: str) -> dict[str, Any]:
    try:
        out = msgspec.json.decode(body)
    except msgspec.DecodeError:
        raise DeliveryError(f"wechat {what}: the answer is not JSON: {body[:200]!r}") from None
    if not isinstance(out, dict):
        raise DeliveryError(f"wechat {what}: the answer is not a JSON object")
    return out


def _errcode(answer: dict[str, Any]) -> int:
    code = answer.get("errcode", answer.get("code", 0))
    return code if isinstance(code, int) else -2


@hookimpl
def tocsin_channel_kinds() -> list[ChannelKind]:
    return [ChannelKind("wechat", WechatConfig, WechatChannel, check=check)]
