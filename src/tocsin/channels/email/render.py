"""The email itself: headers, a text part and an HTML part, from templates with
readable defaults; and the envelope (sender, recipients) it is sent with."""

from __future__ import annotations

from email.errors import MessageError
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from tocsin.channels import ChannelContext, DeliveryError
from tocsin.channels.email.config import EmailConfig, addresses
from tocsin.core.models import Notification
from tocsin.notify.templates import Templates, alertmanager_defaults, data

__all__ = ["DEFAULT_HTML", "DEFAULT_SUBJECT", "DEFAULT_TEXT", "message"]

#: Alertmanager's ``__subject``: ``[FIRING:2] <group label values> (<other common label values>)``.
DEFAULT_SUBJECT = (
    '[{{ status|upper }}{% if status == "firing" %}:{{ firing|length }}{% endif %}] '
    '{{ groupLabels|dictsort|map("last")|join(" ") }}'
    '{% set extra = commonLabels|dictsort|rejectattr("0", "in", groupLabels)|map("last")|list %}'
    '{% if extra %} ({{ extra|join(" ") }}){% endif %}'
)

DEFAULT_TEXT = """\
{% if notice %}{{ notice.text }}

{% endif %}{{ firing|length }} firing, {{ resolved|length }} resolved (receiver {{ receiver }})
{% if groupLabels %}
Group: {{ groupLabels|join_labels }}
{% endif %}
{% for title, list in [("FIRING", firing), ("RESOLVED", resolved)] if list %}

== {{ title }} ({{ list|length }}) ==
{% for a in list %}

* {{ a.labels.alertname or "(no alertname)" }}\
{{ ": " ~ a.annotations.summary if a.annotations.summary else "" }}
  Started: {{ a.startsAt[:19]|replace("T", " ") }} UTC\
{{ " (" ~ a.starts|since(now) ~ " ago)" if a.status == "firing" else "" }}
{% if a.status == "resolved" %}
  Ended:   {{ a.endsAt[:19]|replace("T", " ") }} UTC (lasted {{ (a.ends - a.starts)|duration }})
{% endif %}
{% if a.annotations.description %}
  {{ a.annotations.description|indent(2) }}
{% endif %}
{% for k, v in a.annotations|dictsort if k not in ("summary", "description") %}
  {{ k }}: {{ v|indent(4) }}
{% endfor %}
  Labels:
{% for k, v in a.labels|dictsort %}
    {{ k }} = {{ v }}
{% endfor %}
{% if a.generatorURL %}
  Source: {{ a.generatorURL }}
{% endif %}
{% endfor %}
{% endfor %}

--
Sent by tocsin{{ ": " ~ externalURL if externalURL else "" }}
"""

DEFAULT_HTML = """\
{% macro link(v, text=none) %}
{% if v is string and (v.startswith("http://") or v.startswith("https://")) %}\
<a href="{{ v }}">{{ text or v }}</a>{% else %}{{ v }}{% endif %}
{% endmacro %}
<!DOCTYPE html>
<html><head><meta charset="utf-8"></head>
<body style="margin:0;padding:16px;font-family:Helvetica,Arial,sans-serif;font-size:14px;color:#222">
{% if notice %}<p style="font-size:16px;margin:0 0 8px;color:#1d4ed8"><b>{{ notice.text }}</b></p>{% endif %}
<p style="font-size:16px;margin:0 0 4px"><b>{{ firing|length }} firing</b>, \
{{ resolved|length }} resolved (receiver {{ receiver }})</p>
{% if groupLabels %}
<p style="color:#555;margin:0">Group: {{ groupLabels|join_labels }}</p>
{% endif %}
{% for title, color, list in [("Firing", "#d63232", firing), ("Resolved", "#2eb67d", resolved)] if list %}
<h2 style="color:{{ color }};font-size:18px;margin:24px 0 8px">{{ title }} ({{ list|length }})</h2>
{% for a in list %}
<div style="border-left:4px solid {{ color }};padding:4px 0 4px 12px;margin:0 0 16px">
<p style="font-size:15px;margin:0 0 4px"><b>{{ a.labels.alertname or "(no alertname)" }}</b>\
{{ ": " ~ a.annotations.summary if a.annotations.summary else "" }}</p>
<p style="color:#555;margin:0 0 4px">Started {{ a.startsAt[:19]|replace("T", " ") }} UTC\
{% if a.status == "firing" %} ({{ a.starts|since(now) }} ago){% else %}, \
ended {{ a.endsAt[:19]|replace("T", " ") }} UTC (lasted {{ (a.ends - a.starts)|duration }}){% endif %}</p>
{% if a.annotations.description %}
<p style="white-space:pre-wrap;margin:0 0 4px">{{ a.annotations.description }}</p>
{% endif %}
{% set notes = a.annotations|dictsort|rejectattr("0", "in", ["summary", "description"])|list %}
{% if notes %}
<table style="border-collapse:collapse;margin:0 0 4px">
{% for k, v in notes %}
<tr><td style="padding:1px 12px 1px 0;color:#555;vertical-align:top">{{ k }}</td>\
<td style="white-space:pre-wrap">{{ link(v) }}</td></tr>
{% endfor %}
</table>
{% endif %}
<p style="font-size:12px;margin:0 0 4px">\
{% for k, v in a.labels|dictsort %}
<span style="display:inline-block;background:#eee;border-radius:3px;padding:0 4px;margin:0 4px 2px 0">\
{{ k }}={{ v }}</span>
{% endfor %}
</p>
{% if a.generatorURL %}
<p style="margin:0">{{ link(a.generatorURL, "Source") }}</p>
{% endif %}
</div>
{% endfor %}
{% endfor %}
<p style="color:#888;font-size:12px;margin:24px 0 0">Sent by tocsin\
{% if externalURL %}: {{ link(externalURL) }}{% endif %}</p>
</body></html>
"""

# Alertmanager's HTML mail (``html: '{{ template "email.default.html" . }}'``, as ``amtool
# config show`` writes it) is sent as tocsin's.
alertmanager_defaults({"email.default.html": DEFAULT_HTML})


def _one_line(value: str) -> str:
    """A rendered header value: line breaks would start new headers (or a body)."""
    return " ".join(value.split())



def message(config: EmailConfig, templates: Templates, ctx: ChannelContext, sender: str | None,
            hello: str, n: Notification) -> tuple[EmailMessage, str, list[str]]:
    """The message, the envelope sender and the envelope recipients.

    ``sender`` is the ``from`` template in force (the entry's, else
    ``global.smtp_from``); ``hello`` is the domain of the ``Message-Id`` when the
    sender's address has none."""
    c, t = config, templates
    if not sender:
        raise DeliveryError("no sender: set from in this email_configs entry or global.smtp_from",
                            retryable=False)
    what = f"{ctx.receiver}/{ctx.integration}"
    d = data(n, ctx.external_url)

    def text(source: str, name: str) -> str:
        return _one_line(t.render(source, d, what=f"{what}.{name}"))

    from_, to = text(sender, "from"), text(c.to, "to")
    try:
        envelope_from = addresses(from_)
        if len(envelope_from) != 1:
            raise ValueError(f"must be exactly one address, got {from_!r}")
        recipients = addresses(to)
    except ValueError as exc:
        raise DeliveryError(f"email address: {exc}", retryable=False) from None

    headers = {"Subject": DEFAULT_SUBJECT, "To": c.to, "From": sender, **c.headers}
    msg = EmailMessage()
    try:
        for name, source in headers.items():
            msg[name] = text(source, f"headers.{name}")
        if n.event and "Subject" in msg:
            subject = msg["Subject"]
            del msg["Subject"]
            msg["Subject"] = _one_line(f"[{d['notice']['text']}] {subject}")
        if "Date" not in msg:
            msg["Date"] = formatdate(n.now, usegmt=True)
        if "Message-Id" not in msg:
            domain = envelope_from[0].rpartition("@")[2] or hello
            msg["Message-Id"] = make_msgid("tocsin", domain=domain)
        plain = t.render(c.text, d, what=f"{what}.text") if c.text is not None else (
            t.render(DEFAULT_TEXT, d, what=f"{what}.text"))
        html = t.render(c.html, d, html=True, what=f"{what}.html") if c.html is not None else (
            t.render(DEFAULT_HTML, d, html=True, what=f"{what}.html"))
        if c.text == "":
            msg.set_content(html, subtype="html")
        else:
            msg.set_content(plain)
            if c.html != "":
                msg.add_alternative(html, subtype="html")
    except (ValueError, TypeError, MessageError) as exc:
        raise DeliveryError(f"cannot build the email: {exc}", retryable=False) from None
    return msg, envelope_from[0], recipients
