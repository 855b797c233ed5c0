"""``slack_configs``: the entry's keys, their defaults (Alertmanager's title, a
line per alert), and the check that a webhook URL is set somewhere.

Every key of Alertmanager 0.25's ``slack_config`` is accepted. Those only its
message has (``color``, ``title_link``, ``pretext``, ``fields``, ``footer``,
``fallback``, ``callback_id``, ``image_url``, ``thumb_url``, ``mrkdwn_in``, a list
of ``actions``) choose ``layout: alertmanager``, the message Alertmanager sends,
unless ``layout`` says otherwise.
"""

from __future__ import annotations

import re
from typing import Literal

from tocsin.channels import ChannelConfig
from tocsin.channels.http import HTTPConfig
from tocsin.config.types import URL, ConfigBase
from tocsin.config.validate import field_error
from tocsin.notify.templates import Template

__all__ = [
    "ATTACHMENT_KEYS", "DEFAULT_TEXT", "DEFAULT_TITLE", "SlackAction", "SlackConfig", "SlackConfirm",
    "SlackField", "check",
]

#: Alertmanager's ``__subject``: ``[FIRING:2] <group label values> (<other common label values>)``.
DEFAULT_TITLE = (
    '[{{ status|upper }}{% if status == "firing" %}:{{ firing|length }}{% endif %}] '
    '{{ groupLabels|dictsort|map("last")|join(" ") }}'
    '{% set extra = commonLabels|dictsort|rejectattr("0", "in", groupLabels)|map("last")|list %}'
    '{% if extra %} ({{ extra|join(" ") }}){% endif %}'
)

#: One line per alert (at most 20), its summary, and the description and the
#: recommended actions (the ``recommendations`` annotation, one per line) when there is one alert.
DEFAULT_TEXT = """\
{% for a in alerts[:20] %}
{{ ":red_circle:" if a.status == "firing" else ":large_green_circle:" }} \
*{{ mrkdwn(a.labels.alertname or "alert") }}*\
{% if a.labels.instance %} `{{ mrkdwn(a.labels.instance) }}`{% endif %}\
{% set s = a.annotations.summary or a.annotations.message or a.annotations.description %}\
{% if s %}: {{ mrkdwn(s) }}{% endif %}

{% if alerts|length == 1 and a.annotations.description and a.annotations.description != s %}
>{{ mrkdwn(a.annotations.description)|replace("\\n", "\\n>") }}
{% endif %}
{% if alerts|length == 1 and a.annotations.recommendations %}
*Recommended actions*
{% for line in a.annotations.recommendations.split("\\n") if line.strip() %}
• {{ mrkdwn(line.strip()) }}
{% endfor %}
{% endif %}
{% endfor %}
{% if alerts|length > 20 %}_and {{ alerts|length - 20 }} more_{% endif %}"""

_MENTION_TOKEN = re.compile(r"^(@here|@channel|@everyone|<[@!#][^<>\s]+>)$")
_EMOJI = re.compile(r"^:[^:\s]+:$")


class SlackField(ConfigBase):
    """One of an attachment's ``fields``: a title over a value (Alertmanager's)."""

    title: Template
    value: Template = Template("")
    #: Side by side with the next field; default the entry's ``short_fields``.
    short: bool | None = None

    def __post_init__(self) -> None:
        if not self.title:
            raise field_error("title", "missing title in Slack field configuration")


class SlackConfirm(ConfigBase):
    """The question a message button asks before it acts."""

    text: Template
    title: Template = Template("")
    ok_text: Template = Template("")
    dismiss_text: Template = Template("")

    def __post_init__(self) -> None:
        if not self.text:
            raise field_error("text", "missing text in Slack confirmation configuration")


class SlackAction(ConfigBase):
    """An attachment button (Alertmanager's ``actions`` entries): a link (``url``) or a
    message action (``name`` and ``value``)."""

    type: Template
    text: Template
    url: Template = Template("")
    style: Template = Template("")
    name: Template = Template("")
    value: Template = Template("")
    confirm: SlackConfirm | None = None

    def __post_init__(self) -> None:
        if not self.type:
            raise field_error("type", "missing type in Slack action configuration")
        if not self.text:
            raise field_error("text", "missing text in Slack action configuration")
        if self.url:  # a link: the message action's keys are dropped, as Alertmanager does
            self.name, self.value, self.confirm = Template(""), Template(""), None
        elif not self.name:
            raise field_error("name", "missing name or url in Slack action configuration")


#: The keys only Alertmanager's attachment message has.
ATTACHMENT_KEYS = ("color", "title_link", "pretext", "fields", "footer", "fallback", "callback_id",
                   "image_url", "thumb_url", "mrkdwn_in")


def _template_text(value: str | None) -> bool:
    text = str(value or "")
    return "{{" in text or "{%" in text


class SlackConfig(ChannelConfig):
    #: Like Alertmanager, Slack gets no resolved notices unless asked.
    send_resolved: bool = False
    #: Incoming-webhook URL (a secret: it carries the token).
    api_url: URL | None = None
    #: File holding the URL, read at each send so it can be rotated.
    api_url_file: str | None = None
    #: Overrides of the webhook's defaults (honoured by legacy webhooks only); templates.
    channel: Template | None = None
    username: Template | None = None
    icon_emoji: Template | None = None
    icon_url: Template | None = None
    #: ``blocks``: tocsin's Block Kit message; ``alertmanager``: Alertmanager's. Default:
    #: ``alertmanager`` when a key only that message has is set, else ``blocks``.
    layout: Literal["blocks", "alertmanager"] | None = None
    #: Default: tocsin's title and alert lines (``blocks``), Alertmanager's
    #: ``slack.default.title`` and ``slack.default.text`` (``alertmanager``).
    title: Template | None = None
    text: Template | None = None
    # Alertmanager's attachment keys (templates but the booleans and mrkdwn_in).
    color: Template | None = None
    title_link: Template | None = None
    pretext: Template | None = None
    fields: list[SlackField] = []
    short_fields: bool = False
    footer: Template | None = None
    fallback: Template | None = None
    callback_id: Template | None = None
    image_url: Template | None = None
    thumb_url: Template | None = None
    link_names: bool = False
    mrkdwn_in: list[str] = []
    #: Prepended when a firing alert has severity critical: ``@here``, ``@channel``,
    #: ``<!subteam^ID>``, ``<@USERID>`` (several separated by spaces).
    mention: str | None = None
    #: ``links``: Silence / Acknowledge are URL buttons into tocsin. ``interactive``:
    #: Silence / Acknowledge / Resolve call tocsin back through the Slack app. A list:
    #: Alertmanager's attachment buttons (``layout: alertmanager``).
    actions: Literal["links", "interactive"] | list[SlackAction] = "links"
    http_config: HTTPConfig | None = None

    def __post_init__(self) -> None:
        if self.api_url is not None and self.api_url_file is not None:
            raise field_error("api_url_file", "set api_url or api_url_file, not both")
        if self.icon_emoji and not _template_text(self.icon_emoji) and not _EMOJI.match(self.icon_emoji):
            raise field_error("icon_emoji", "expected an emoji code such as :rotating_light:")
        if self.icon_url and not _template_text(self.icon_url):
            try:
                URL.parse(str(self.icon_url))
            except (TypeError, ValueError) as exc:
                raise field_error("icon_url", str(exc)) from None
        if self.layout is None:
            chosen = isinstance(self.actions, list) or any(getattr(self, k) for k in ATTACHMENT_KEYS)
            self.layout = "alertmanager" if chosen else "blocks"
        if isinstance(self.actions, list) and self.layout == "blocks":
            raise field_error("actions", "a list of actions needs layout: alertmanager "
                                         "(tocsin's blocks take links or interactive)")
        if self.mention is not None:
            tokens = self.mention.split()
            bad = [t for t in tokens if not _MENTION_TOKEN.match(t)]
            if not tokens or bad:
                raise field_error(
                    "mention",
                    f"cannot mention {' '.join(bad) or 'nobody'!r}: use @here, @channel, @everyone, "
                    "<@USERID> or <!subteam^GROUPID>",
                )


def check(config: SlackConfig, global_config: object) -> list[tuple[str, str]]:
    """A webhook URL here or in ``global:``, which the entry alone cannot see."""
    if config.api_url or config.api_url_file or getattr(global_config, "slack_api_url", None) \
            or getattr(global_config, "slack_api_url_file", None):
        return []
    return [("api_url", "no Slack webhook URL: set api_url or api_url_file here, "
                        "or global.slack_api_url[_file]")]
