"""``slack_configs``: the entry's keys, their defaults (Alertmanager's title, a
line per alert), and the check that a webhook URL is set somewhere."""

from __future__ import annotations

import re
from typing import Literal

from tocsin.channels import ChannelConfig
from tocsin.channels.http import HTTPConfig
from tocsin.config.types import URL
from tocsin.config.validate import field_error
from tocsin.notify.templates import Template

__all__ = ["DEFAULT_TEXT", "DEFAULT_TITLE", "SlackConfig", "check"]

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


class SlackConfig(ChannelConfig):
    #: Like Alertmanager, Slack gets no resolved notices unless asked.
    send_resolved: bool = False
    #: Incoming-webhook URL (a secret: it carries the token).
    api_url: URL | None = None
    #: File holding the URL, read at each send so it can be rotated.
    api_url_file: str | None = None
    #: Overrides of the webhook's defaults (honoured by legacy webhooks only).
    channel: str | None = None
    username: str | None = None
    icon_emoji: str | None = None
    icon_url: URL | None = None
    title: Template = Template(DEFAULT_TITLE)
    text: Template = Template(DEFAULT_TEXT)
    #: Prepended when a firing alert has severity critical: ``@here``, ``@channel``,
    #: ``<!subteam^ID>``, ``<@USERID>`` (several separated by spaces).
    mention: str | None = None
    #: ``links``: Silence / Acknowledge are URL buttons into tocsin. ``interactive``:
    #: Silence / Acknowledge / Resolve call tocsin back through the Slack app.
    actions: Literal["links", "interactive"] = "links"
    http_config: HTTPConfig | None = None

    def __post_init__(self) -> None:
        if self.api_url is not None and self.api_url_file is not None:
            raise field_error("api_url_file", "set api_url or api_url_file, not both")
        if self.icon_emoji is not None and not _EMOJI.match(self.icon_emoji):
            raise field_error("icon_emoji", "expected an emoji code such as :rotating_light:")
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
