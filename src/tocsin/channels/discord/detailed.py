"""The Discord message of the ``detailed`` layout: an embed per alert.

- ``content``: the group's subject (``[FIRING:2] HighLatency api``), after the
  configured ``mention`` when a firing alert has severity ``critical``;
- ``embeds``: one per alert (firing ones first), coloured by status and
  severity, with the summary and description, severity, start / end, runbook and
  dashboard links, the other labels and annotations. More than 10 alerts: 9
  alerts and a 10th embed summing up the rest;
- ``allowed_mentions``: only the configured mention can ping; ``@everyone`` or
  ``<@id>`` inside alert text never does.

Everything is cut to Discord's documented limits (content 2000 characters, 10
embeds, title 256, description 4096, 25 fields of 256 / 1024, footer 2048, and
6000 characters over all the embeds of a message), so an enormous annotation
never makes Discord refuse the message. Lengths are counted in UTF-16 code
units, which is never fewer than Discord counts. :func:`cut`, :func:`units` and
:func:`mentions` serve the ``alertmanager`` layout too.
"""

from __future__ import annotations

import re
from typing import Any

from tocsin.channels.data import link_url, notice_line
from tocsin.channels.discord.config import MENTION_TOKEN, DiscordConfig
from tocsin.core.models import Alert, Notification
from tocsin.core.severity import highest_severity, severity_level
from tocsin.core.timefmt import format_ts
from tocsin.notify.templates import duration_words

__all__ = ["MAX_DESCRIPTION", "MAX_EMBED_TOTAL", "MAX_TITLE", "cut", "mentions", "render", "subject", "units"]

# -- Discord's documented limits --------------------------------------------------------------

MAX_CONTENT = 2000
MAX_EMBEDS = 10
MAX_TITLE = 256
MAX_DESCRIPTION = 4096
MAX_FIELDS = 25
MAX_FIELD_NAME = 256
MAX_FIELD_VALUE = 1024
MAX_FOOTER = 2048
#: Over title, description, field names and values, footer and author of all the embeds.
MAX_EMBED_TOTAL = 6000
#: Users or roles listed in ``allowed_mentions``.
MAX_ALLOWED_IDS = 100
#: One alert's line in the summary of the alerts beyond the ninth.
MAX_SUMMARY_LINE = 200
#: Not a documented limit; longer links are left out rather than risk a refusal.
MAX_URL = 2048

# Colours (0xRRGGBB as an integer, as Discord takes them).
RED, ORANGE, BLUE, GREEN = 0xD63232, 0xF2A33A, 0x3A87F2, 0x2EB67D
COLORS = {"critical": RED, "error": RED, "warning": ORANGE, "info": BLUE}


#: Annotations shown in their own places rather than as fields.
_SPECIAL_ANNOTATIONS = frozenset({"summary", "message", "description", "runbook_url", "dashboard_url"})
#: Labels shown in the title or their own field rather than in "Labels".
_SPECIAL_LABELS = frozenset({"alertname", "instance", "severity"})


# -- text helpers -----------------------------------------------------------------------------


def units(s: str) -> int:
    """Length in UTF-16 code units (never fewer than Discord counts)."""
    return len(s.encode("utf-16-le")) // 2


def cut(s: str, limit: int, end: str = "…") -> str:
    """``s`` shortened to ``limit`` UTF-16 units, ending with ``end`` when shortened.

    Never splits a surrogate pair, and never leaves a lone backslash that would
    escape the ellipsis."""
    if len(s) <= limit // 2 or units(s) <= limit:
        return s
    if limit <= 0:
        return ""
    budget = limit - units(end)
    if budget < 0:
        return end[:limit]
    used = 0
    out: list[str] = []
    for ch in s:
        w = 2 if ord(ch) > 0xFFFF else 1
        if used + w > budget:
            break
        out.append(ch)
        used += w
    kept = "".join(out).rstrip()
    trailing = len(kept) - len(kept.rstrip("\\"))
    if trailing % 2:
        kept = kept[:-1]
    return kept + end


_MD_SPECIAL = re.compile(r"([\\*_~`|<>\[\]#])")
_MD_LINE_START = re.compile(r"(?m)^(\s*)([-+]|\d+\.)(?=\s)")


def md(value: Any) -> str:
    """Escape Discord markdown and mentions in text that comes from labels.

    ``<@id>`` loses its meaning with ``<`` escaped; ``@everyone`` and ``@here`` get a
    zero-width space, since the content may be sent with ``everyone`` pings allowed."""
    s = _MD_SPECIAL.sub(r"\\\1", str(value))
    s = s.replace("@everyone", "@\u200beveryone").replace("@here", "@\u200bhere")
    return _MD_LINE_START.sub(lambda m: m.group(1) + "\\" + m.group(2), s)


def _one_line(s: str) -> str:
    return " ".join(s.split())


def _link(text: str, url: str) -> str:
    """A masked link; parentheses in the URL would end it early, so they are encoded."""
    return f"[{text}]({url.replace('(', '%28').replace(')', '%29')})"




# -- the message ------------------------------------------------------------------------------


def subject(n: Notification, alerts: list[Alert], esc: Any = str) -> str:
    """Alertmanager's ``__subject``: ``[FIRING:2] <group label values> (<other common values>)``,
    the label values passed through ``esc``."""
    firing = [a for a in alerts if not a.resolved(n.now)]
    status = f"FIRING:{len(firing)}" if firing else "RESOLVED"
    values = [v for _, v in sorted(n.group_labels.items())]
    shown = set(n.group_labels)
    if not values:  # grouped by nothing: name the alerts instead
        values = sorted({a.labels.get("alertname", "") for a in alerts} - {""})
        shown = {"alertname"}
    common: dict[str, str] | None = None
    for a in alerts:
        common = dict(a.labels) if common is None else {
            k: v for k, v in common.items() if a.labels.get(k) == v}
    extra = [v for k, v in sorted((common or {}).items()) if k not in shown]
    text = f"[{status}] " + " ".join(esc(_one_line(v)) for v in values)
    if extra:
        text += " (" + " ".join(esc(_one_line(v)) for v in extra) + ")"
    notice = notice_line(n)  # an acknowledgement or escalation says so first
    if notice:
        text = f"{esc(_one_line(notice))} · {text}"
    return text.strip()


def _color(alerts: list[Alert], now: float) -> int:
    firing = [a for a in alerts if not a.resolved(now)]
    if not firing:
        return GREEN
    level = highest_severity(a.labels.get("severity") for a in firing)
    # Unknown or missing severity: red, as Alertmanager colours every firing message.
    return COLORS[level] if level else RED


def _when(ts: float) -> str:
    """A Discord timestamp, shown in the reader's own time zone, and how long ago."""
    t = int(ts)
    return f"<t:{t}:f> (<t:{t}:R>)"


def _alert_title(a: Alert, firing: bool) -> str:
    name = a.labels.get("alertname") or "alert"
    instance = a.labels.get("instance")
    head = f"{'🔥' if firing else '✅'} [{'FIRING' if firing else 'RESOLVED'}] {md(_one_line(name))}"
    if instance:
        head += f" · {md(_one_line(instance))}"
    return cut(head, MAX_TITLE)


def _field(name: str, value: str, inline: bool = False) -> dict[str, Any]:
    name = cut(_one_line(name), MAX_FIELD_NAME) or "\u200b"
    value = cut(value.strip(), MAX_FIELD_VALUE) or "\u200b"
    return {"name": name, "value": value, "inline": inline}


def alert_embed(a: Alert, n: Notification, footer: str) -> dict[str, Any]:
    """One alert as an embed, within the per-embed limits (not yet the message total)."""
    firing = not a.resolved(n.now)
    embed: dict[str, Any] = {"title": _alert_title(a, firing)}
    url = link_url(a.generator_url, MAX_URL)
    if url:
        embed["url"] = url

    text = _alert_text(a.annotations)
    if text:
        embed["description"] = cut(text, MAX_DESCRIPTION)
    embed["color"] = _color([a], n.now)
    fields = _alert_fields(a, firing)
    if fields:
        embed["fields"] = fields

    embed["footer"] = {"text": cut(f"{footer} · {a.fingerprint}", MAX_FOOTER)}
    ts = a.starts_at if firing or a.ends_at <= 0 else a.ends_at
    if ts > 0:
        embed["timestamp"] = format_ts(ts)
    return embed


def _alert_text(ann: dict[str, str]) -> str:
    """The summary (bold) over the description.

    Annotations are the alert author's text: Discord markdown in them is honoured."""
    summary = (ann.get("summary") or ann.get("message") or "").strip()
    description = (ann.get("description") or "").strip()
    if summary and description and description != summary:
        return f"**{_one_line(summary)}**\n{description}"
    return summary or description


def _alert_fields(a: Alert, firing: bool) -> list[dict[str, Any]]:
    """Severity, times, links and labels, then the other annotations as far as they fit."""
    ann = a.annotations
    fields: list[dict[str, Any]] = []
    severity = a.labels.get("severity")
    if severity:
        fields.append(_field("Severity", md(severity), inline=True))
    if a.starts_at > 0:
        fields.append(_field("Started", _when(a.starts_at), inline=True))
    if not firing and a.ends_at > 0:
        fields.append(_field("Resolved", _when(a.ends_at), inline=True))
        if a.starts_at > 0:
            fields.append(_field("Lasted", duration_words(a.ends_at - a.starts_at), inline=True))
    for key, name in (("runbook_url", "Runbook"), ("dashboard_url", "Dashboard")):
        link = link_url(ann.get(key), MAX_URL)
        if link:
            fields.append(_field(name, _link(f"Open {name.lower()}", link), inline=True))
    other = sorted((k, v) for k, v in a.labels.items() if k not in _SPECIAL_LABELS)
    if other:
        fields.append(_field("Labels", "\n".join(
            f"**{md(k)}**: {md(_one_line(cut(v, MAX_FIELD_VALUE)))}" for k, v in other)))
    extra = sorted((k, v) for k, v in ann.items() if k not in _SPECIAL_ANNOTATIONS and v.strip())
    room = MAX_FIELDS - len(fields)
    if len(extra) > room:
        shown, hidden = extra[:room - 1], len(extra) - (room - 1)
        fields.extend(_field(k, v) for k, v in shown)
        fields.append(_field("More annotations", f"{hidden} not shown"))
    else:
        fields.extend(_field(k, v) for k, v in extra)
    return fields[:MAX_FIELDS]


def summary_embed(rest: list[Alert], n: Notification, footer: str,
                  size_limit: int = MAX_EMBED_TOTAL) -> dict[str, Any]:
    """The alerts that get no embed of their own, one line each, as many as fit in
    ``size_limit`` characters; a last line counts the others."""
    firing = sum(1 for a in rest if not a.resolved(n.now))
    counts = ", ".join(p for p in (f"{firing} firing" if firing else "",
                                   f"{len(rest) - firing} resolved" if len(rest) > firing else "") if p)
    title = cut(f"…and {len(rest)} more alert{'s' if len(rest) != 1 else ''} ({counts})", MAX_TITLE)
    footer = cut(footer, MAX_FOOTER)
    limit = min(MAX_DESCRIPTION, size_limit - units(title) - units(footer))
    lines: list[str] = []
    used = 0
    for i, a in enumerate(rest):
        is_firing = not a.resolved(n.now)
        line = f"{'🔥' if is_firing else '✅'} **{md(_one_line(a.labels.get('alertname') or 'alert'))}**"
        if a.labels.get("instance"):
            line += f" · {md(_one_line(a.labels['instance']))}"
        s = a.annotations.get("summary") or a.annotations.get("message")
        if s:
            line += f": {_one_line(s)}"
        line = cut(line, MAX_SUMMARY_LINE)
        more = len(rest) - i - 1
        tail = units(f"\n…and {more + 1} more") if more else 0
        if used + units(line) + tail > limit:
            lines.append(f"…and {len(rest) - i} more")
            break
        lines.append(line)
        used += units(line) + 1
    e: dict[str, Any] = {"title": title, "color": _color(rest, n.now), "footer": {"text": footer}}
    description = cut("\n".join(lines), max(0, limit))
    if description:
        e["description"] = description
    return e


def embed_size(e: dict[str, Any]) -> int:
    """What an embed counts towards the 6000 characters of a message."""
    size = units(e.get("title", "")) + units(e.get("description", ""))
    size += sum(units(f["name"]) + units(f["value"]) for f in e.get("fields", ()))
    size += units(e.get("footer", {}).get("text", ""))
    size += units(e.get("author", {}).get("name", ""))
    return size


def fit_embed(e: dict[str, Any], budget: int) -> dict[str, Any]:
    """``e`` within ``budget`` characters: the title and footer shortened first only when
    they are a big share, then the description and fields share what is left."""
    if embed_size(e) <= budget:
        return e
    e = dict(e)
    title = cut(e.get("title", ""), max(1, budget // 3))
    e["title"] = title
    footer = e.get("footer", {}).get("text", "")
    if footer:
        footer = cut(footer, budget // 6)
        if footer:
            e["footer"] = {**e["footer"], "text": footer}
        else:
            e.pop("footer")
    rest = max(0, budget - units(title) - units(footer))
    desc = e.get("description", "")
    fields = e.get("fields", [])
    fields_size = sum(units(f["name"]) + units(f["value"]) for f in fields)
    # The description may take half of what is left, more if the fields need less.
    desc_cap = max(rest - fields_size, min(units(desc), rest // 2))
    desc = cut(desc, desc_cap)
    room = rest - units(desc)
    kept: list[dict[str, Any]] = []
    for f in fields:
        need = units(f["name"]) + units(f["value"])
        if need <= room:
            kept.append(f)
            room -= need
            continue
        if room - units(f["name"]) >= 16:
            value = cut(f["value"], room - units(f["name"]))
            kept.append({**f, "value": value})
        break
    if desc:
        e["description"] = desc
    else:
        e.pop("description", None)
    if kept:
        e["fields"] = kept
    else:
        e.pop("fields", None)
    return e


def fit_total(embeds: list[dict[str, Any]], total: int = MAX_EMBED_TOTAL) -> list[dict[str, Any]]:
    """Share ``total`` characters among the embeds: small ones keep everything, the
    large ones are cut to an equal share of the rest."""
    sizes = [embed_size(e) for e in embeds]
    if sum(sizes) <= total:
        return embeds
    remaining, left = total, len(sizes)
    cap = 0
    for s in sorted(sizes):
        if s * left <= remaining:
            remaining -= s
            left -= 1
        else:
            cap = remaining // left
            break
    return [fit_embed(e, cap) if s > cap else e for e, s in zip(embeds, sizes, strict=True)]


def mentions(config: DiscordConfig, n: Notification) -> tuple[str, dict[str, Any]]:
    """The mention text for this notification, and the ``allowed_mentions`` that let only it ping."""
    critical = any(severity_level(a.labels.get("severity")) == "critical" for a in n.firing())
    if not config.mention or not critical:
        return "", {"parse": []}
    tokens = list(dict.fromkeys(config.mention.split()))
    allowed: dict[str, Any] = {"parse": []}
    if any(t in ("@here", "@everyone") for t in tokens):
        allowed["parse"] = ["everyone"]
    users = [m.group(2) for t in tokens if (m := MENTION_TOKEN.match(t)) and m.group(2)]
    roles = [m.group(3) for t in tokens if (m := MENTION_TOKEN.match(t)) and m.group(3)]
    if users:
        allowed["users"] = list(dict.fromkeys(users))[:MAX_ALLOWED_IDS]
    if roles:
        allowed["roles"] = list(dict.fromkeys(roles))[:MAX_ALLOWED_IDS]
    return " ".join(tokens), allowed


def render(config: DiscordConfig, n: Notification) -> dict[str, Any]:
    """The Execute Webhook JSON body for a notification, as a dict."""
    # Firing alerts first; each group keeps the notification's (Alertmanager's) order.
    alerts = n.firing() + n.resolved()
    footer = f"tocsin · {n.receiver}"
    if len(alerts) > MAX_EMBEDS:
        shown, rest = alerts[:MAX_EMBEDS - 1], alerts[MAX_EMBEDS - 1:]
    else:
        shown, rest = alerts, []
    embeds = [alert_embed(a, n, footer) for a in shown]
    if rest:
        embeds.append(summary_embed(rest, n, footer))
    fitted = fit_total(embeds)
    if rest and fitted[-1] is not embeds[-1]:
        # The summary got less room: list fewer alerts rather than cut the count off.
        fitted[-1] = fit_embed(summary_embed(rest, n, footer, embed_size(fitted[-1])),
                               embed_size(fitted[-1]))
    embeds = fitted

    mention, allowed = mentions(config, n)
    # The subject is cut before it is made bold, so that the closing ** survives.
    title = cut(subject(n, alerts, md), MAX_CONTENT - units(mention) - 5)
    content = f"{mention} **{title}**".strip()
    body: dict[str, Any] = {"content": content, "embeds": embeds, "allowed_mentions": allowed}
    if config.username:
        body["username"] = config.username.strip()
    if config.avatar_url:
        body["avatar_url"] = str(config.avatar_url)
    return body
