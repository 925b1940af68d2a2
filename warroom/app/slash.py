"""The composer's language: plain text is a note, and slash commands do the rest.

Pure: it turns a line into the command to send, or a ``SlashError`` to show
inline, so it is tested without a terminal.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from warroom.core.events import ENTRY_KINDS, ROLE_TITLES, STATUSES
from warroom.core.matchers import group_matchers, quote_value, unquote_value
from warroom.runbooks.steps import AMBIGUOUS, StepLookup, resolve_step


class SlashError(Exception):
    """Shown under the composer; the typed text stays so it can be fixed."""


@dataclass(frozen=True)
class Action:
    """A command for the hub: ``type`` and ``data``, as the protocol's cmd frame carries them."""

    type: str
    data: dict[str, Any] = field(default_factory=dict)


ROLE_ALIASES = {
    "ic": "commander",
    "commander": "commander",
    "cmd": "commander",
    "comms": "comms",
    "cl": "comms",
    "communications": "comms",
    "tech": "tech",
    "tl": "tech",
    "technical": "tech",
    "scribe": "scribe",
}

# name: (usage, what it does); the composer completes from this table.
COMMANDS: dict[str, tuple[str, str]] = {
    "note": ("/note TEXT", "log a note (plain text does the same)"),
    "decision": ("/decision TEXT", "log a decision"),
    "did": ("/did TEXT", "log an action taken"),
    "action": (
        "/action TEXT [@OWNER] [due YYYY-MM-DD|+3d]",
        "add an action item: follow-up work, with an owner and a due day",
    ),
    "done": ("/done [A-N]", "mark an action item done (the selected one by default)"),
    "finding": ("/finding TEXT", "log a finding"),
    "status": ("/status investigating|identified|monitoring|resolved [REASON]", "move the incident on"),
    "sev": ("/sev 1-4 [REASON]", "change the severity"),
    "services": ("/services NAME…", "set the services the incident touches"),
    "impact": ("/impact 25% [REASON]", "the share of users hurt (reports charge error budgets by it)"),
    "role": (
        "/role ic|comms|tech|scribe me|@NAME|release",
        "take a role, give it (an offer if held), release it",
    ),
    "accept": ("/accept ROLE", "accept a role offered to you"),
    "decline": ("/decline ROLE", "turn down a role offered to you"),
    "takeover": ("/takeover ROLE [REASON]", "take a role whose holder is disconnected"),
    "broadcast": ("/broadcast [30m] MESSAGE", "send a status broadcast, next update due in 30m"),
    "pin": ("/pin [#N]", "pin the selected entry, or entry N"),
    "unpin": ("/unpin [#N]", "unpin the selected entry, or entry N"),
    "strike": ("/strike [#N] [REASON]", "strike an entry through"),
    "edit": ("/edit #N TEXT", "replace an entry's text (the old text is kept)"),
    "item": ("/item TEXT", "add a runbook checklist item"),
    "check": ("/check N", "check or uncheck checklist item N"),
    "ack": (
        "/ack [ALERTNAME [*]|FINGERPRINT]",
        "acknowledge the selected alert or group, the one alert of that name, or with * all of them",
    ),
    "silence": (
        "/silence [ALERT|ALERTNAME *] 2h REASON",
        "silence an alert, or a group with * (where each came from, when the hub can)",
    ),
    "unsilence": ("/unsilence [ALERT]", "end an alert's silence"),
    "attach": ("/attach [ALERT] INC-N", "move an alert into an incident (from the inbox, say)"),
    "escalate": ("/escalate [SEV1-4]", "declare a new incident from the selected alert"),
    "filter": ("/filter [pinned] [kind:K] [author:NAME] [WORDS]", "filter the timeline; alone, clear it"),
    "runbook": ("/runbook [ID]", "attach a runbook from the hub's library; alone, pick one with search"),
    "skip": ("/skip [STEP] REASON", "skip the selected runbook step (or STEP, RUNBOOK/STEP), saying why"),
    "assign": ("/assign [STEP] @NAME|me", "give the selected runbook step (or STEP) to someone"),
    "stepnote": ("/stepnote [STEP] TEXT", "add a note to the selected runbook step (or STEP)"),
    "debrief": ("/debrief", "once a drill is resolved: its debrief (times, steps, alerts left)"),
    "help": ("/help", "list the slash commands"),
}


@dataclass(frozen=True)
class Context:
    """What the parser may need from the screen: who I am and what is selected."""

    me: str
    selected_entry: int | None = None
    checklist_ids: tuple[int, ...] = ()
    checked: frozenset[int] = frozenset()
    selected_alert: str | None = None
    alerts: tuple[tuple[str, str], ...] = ()  # (fingerprint, alertname)
    selected_group: str | None = None  # the alertname of the group row under the cursor
    labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # fingerprint -> labels
    holders: tuple[tuple[str, str], ...] = ()  # (role, holder's name): held seats are offered
    alertmanager: bool = False  # the hub can make real silences
    steps: tuple[tuple[str, str], ...] = ()  # (runbook id, step id) of every attached step
    selected_step: tuple[str, str] | None = None  # the step row under the runbook panel's cursor
    today: str | None = None  # YYYY-MM-DD (UTC): what "due +3d" counts from
    actions: tuple[tuple[str, str], ...] = ()  # (id, status) of the room's action items
    selected_action: str | None = None  # the action item under the action panel's cursor


def parse(line: str, ctx: Context) -> Action:
    text = line.strip()
    if not text:
        raise SlashError("nothing to send")
    if not text.startswith("/"):
        return Action("entry.added", {"kind": "note", "text": text})
    name, _, rest = text[1:].partition(" ")
    name, rest = name.lower(), rest.strip()
    if name == "did":
        return Action("entry.added", {"kind": "action", "text": _need(rest, "/did needs some text")})
    if name in ENTRY_KINDS and name != "action":  # /action adds an action item; /did logs one taken
        return Action("entry.added", {"kind": name, "text": _need(rest, f"/{name} needs some text")})
    handler = _HANDLERS.get(name)
    if handler is None:
        hint = completions("/" + name)
        maybe = f"; did you mean {hint[0].split()[0]}?" if hint else ""
        raise SlashError(f"unknown command /{name}{maybe} (try /help)")
    return handler(rest, ctx)


def completions(prefix: str) -> list[str]:
    """Usage lines for the slash commands that start with what was typed."""
    if not prefix.startswith("/") or " " in prefix:
        return []
    stem = prefix[1:].lower()
    return [usage for name, (usage, _) in COMMANDS.items() if name.startswith(stem)]


def _need(value: str, message: str) -> str:
    if not value:
        raise SlashError(message)
    return value


def _status(rest: str, ctx: Context) -> Action:
    word, _, reason = rest.partition(" ")
    if word not in STATUSES:
        raise SlashError(f"/status takes one of {', '.join(STATUSES)}")
    data = {"status": word}
    if reason.strip():
        data["reason"] = reason.strip()
    return Action("incident.status_changed", data)


def _sev(rest: str, ctx: Context) -> Action:
    word, _, reason = rest.partition(" ")
    match = re.fullmatch(r"(?i)(?:sev)?([1-4])", word)
    if match is None:
        raise SlashError("/sev takes 1, 2, 3 or 4")
    data = {"severity": f"SEV{match.group(1)}"}
    if reason.strip():
        data["reason"] = reason.strip()
    return Action("incident.severity_changed", data)


def _services(rest: str, ctx: Context) -> Action:
    names = list(dict.fromkeys(rest.replace(",", " ").split()))
    if not names:
        raise SlashError("/services needs at least one name: /services checkout payments")
    return Action("incident.services_set", {"services": names})


def _impact(rest: str, ctx: Context) -> Action:
    word, _, reason = rest.partition(" ")
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(%?)", word)
    value = float(match.group(1)) / (100 if match.group(2) else 1) if match else -1.0
    if not 0 <= value <= 1:
        raise SlashError("/impact takes a share of users: 25% or 0.25 (0 to 1)")
    data: dict[str, Any] = {"fraction": value}
    if reason.strip():
        data["reason"] = reason.strip()
    return Action("incident.impact_set", data)


def _role(rest: str, ctx: Context) -> Action:
    parts = rest.split()
    if len(parts) != 2 or parts[0].lower() not in ROLE_ALIASES:
        raise SlashError("usage: /role ic|comms|tech|scribe me|@NAME|release")
    role, who = ROLE_ALIASES[parts[0].lower()], parts[1]
    if who == "release":
        return Action("role.released", {"role": role})
    name = ctx.me if who == "me" else who[1:] if who.startswith("@") and len(who) > 1 else None
    if name is None:
        raise SlashError(f"/role {parts[0]} needs me, @NAME or release (the {ROLE_TITLES[role]})")
    holder = dict(ctx.holders).get(role)
    if holder is not None and holder != name:
        if name == ctx.me:
            raise SlashError(
                f"{holder} holds the {ROLE_TITLES[role]}: ask them to offer it, "
                f"or /takeover {parts[0]} if they are disconnected"
            )
        return Action("role.offered", {"role": role, "to": name})
    return Action("role.assigned", {"role": role, "name": name})


def _role_answer(type_: str, verb: str) -> Callable[[str, Context], Action]:
    def handle(rest: str, ctx: Context) -> Action:
        word, _, reason = rest.partition(" ")
        if word.lower() not in ROLE_ALIASES:
            raise SlashError(f"usage: /{verb} ic|comms|tech|scribe")
        data: dict[str, Any] = {"role": ROLE_ALIASES[word.lower()]}
        if type_ == "role.taken_over" and reason.strip():
            data["reason"] = reason.strip()
        return Action(type_, data)

    return handle


def _broadcast(rest: str, ctx: Context) -> Action:
    data: dict[str, Any] = {}
    match = re.match(r"(\d+)m\s+(.*)", rest)
    if match:
        data["next_update_in"] = int(match.group(1))
        rest = match.group(2)
    data["message"] = _need(rest.strip(), "/broadcast needs a message")
    return Action("status.broadcast", data)


def _entry_ref(rest: str, ctx: Context, verb: str) -> tuple[int, str]:
    match = re.match(r"#?(\d+)\b\s*(.*)", rest)
    if match:
        return int(match.group(1)), match.group(2).strip()
    if ctx.selected_entry is None:
        raise SlashError(f"/{verb}: select an entry first, or give its number (#N)")
    return ctx.selected_entry, rest


def _pin(rest: str, ctx: Context) -> Action:
    return Action("entry.pinned", {"entry": _entry_ref(rest, ctx, "pin")[0]})


def _unpin(rest: str, ctx: Context) -> Action:
    return Action("entry.unpinned", {"entry": _entry_ref(rest, ctx, "unpin")[0]})


def _strike(rest: str, ctx: Context) -> Action:
    entry, reason = _entry_ref(rest, ctx, "strike")
    return Action("entry.struck", {"entry": entry, **({"reason": reason} if reason else {})})


def _edit(rest: str, ctx: Context) -> Action:
    match = re.match(r"#?(\d+)\s+(.+)", rest)
    if match is None:
        raise SlashError("usage: /edit #N TEXT")
    return Action("entry.edited", {"entry": int(match.group(1)), "text": match.group(2).strip()})


def _item(rest: str, ctx: Context) -> Action:
    return Action("checklist.item_added", {"text": _need(rest, "/item needs the item's text")})


def _check(rest: str, ctx: Context) -> Action:
    if not rest.isdigit() or not 1 <= int(rest) <= len(ctx.checklist_ids):
        raise SlashError(f"/check takes an item number from 1 to {len(ctx.checklist_ids)}")
    item = ctx.checklist_ids[int(rest) - 1]
    return Action("checklist.item_checked", {"item": item, "checked": item not in ctx.checked})


ACTION_USAGE = "/action TEXT [@OWNER] [due YYYY-MM-DD|+3d]"


def action_item(rest: str, today: str | None) -> Action:
    """``TEXT [@OWNER] [due YYYY-MM-DD|+3d]`` as an ``action.added``; the editor's line reads the same.

    The owner and due day are taken from the end of the line, in either order,
    so an ``@`` or a "due" inside the sentence stays text.
    """
    words = rest.split()
    data: dict[str, Any] = {}
    while words:
        if words[-1].startswith("@") and "owner" not in data:
            owner = words.pop()[1:]
            data["owner"] = _need(owner, f"@ needs a name after it: {ACTION_USAGE}")
        elif len(words) >= 2 and words[-2].lower() == "due" and "due" not in data:
            data["due"] = _due(words[-1], today)
            del words[-2:]
        else:
            break
    text = " ".join(words)
    if not text:
        raise SlashError(f"an action item needs its text: {ACTION_USAGE}")
    return Action("action.added", {"text": text, **data})


def _due(word: str, today: str | None) -> str:
    """A due day: ``YYYY-MM-DD``, or ``+3d`` / ``+2w`` counted from today (UTC)."""
    relative = re.fullmatch(r"\+(\d{1,4})([dw])", word.lower())
    try:
        if relative is not None:
            if today is None:
                raise SlashError("due +Nd needs today's date; write the day as YYYY-MM-DD")
            days = int(relative.group(1)) * (7 if relative.group(2) == "w" else 1)
            return (date.fromisoformat(today) + timedelta(days=days)).isoformat()
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", word):
            return date.fromisoformat(word).isoformat()
    except ValueError:
        raise SlashError(f"due {word}: there is no such day") from None
    raise SlashError(f"due {word[:20]}: write the day as YYYY-MM-DD or +3d (days from today)")


def _action(rest: str, ctx: Context) -> Action:
    return action_item(rest, ctx.today)


def _done(rest: str, ctx: Context) -> Action:
    if not rest:
        if ctx.selected_action is None:
            raise SlashError("/done: give the item's id (/done A-2), or select it in the action items")
        ident = ctx.selected_action
    else:
        match = re.fullmatch(r"(?i)(?:a-?)?(\d+)", rest)
        if match is None:
            raise SlashError("usage: /done A-N (an action item's id)")
        ident = f"A-{int(match.group(1))}"
    status = dict(ctx.actions).get(ident)
    if status is None:
        known = f" (it has {ctx.actions[0][0]} to {ctx.actions[-1][0]})" if ctx.actions else ""
        raise SlashError(f"/done: this room has no action item {ident}{known}")
    if status == "done":
        raise SlashError(f"/done: {ident} is done already")
    return Action("action.updated", {"action": ident, "status": "done"})


def _named_alert(word: str, ctx: Context, verb: str) -> str | None:
    """The one alert whose fingerprint or alertname is ``word``; several of one name is refused.

    Acting on an arbitrary one of 25 alerts that share a name would be a guess;
    the refusal offers the whole group instead.
    """
    if any(word == fingerprint for fingerprint, _ in ctx.alerts):
        return word
    named = [fingerprint for fingerprint, alertname in ctx.alerts if alertname == word]
    if len(named) > 1:
        group = f", or /{verb} {quote_value(word)} * for the whole group" if verb in GROUP_VERBS else ""
        raise SlashError(
            f"/{verb}: {len(named)} alerts are named {word}: select one in the alert panel{group}"
        )
    return named[0] if named else None


GROUP_VERBS = ("ack", "silence")  # the commands that also take a whole group (NAME *)


def _group_name(rest: str) -> tuple[str, str] | None:
    """``NAME *`` (or ``"NAME WITH SPACES" *``, quoted as ``quote_value`` does) at the start of ``rest``.

    The name, and what follows.
    """
    match = re.match(r'("(?:[^"\\]|\\.)+"|\S+)\s+\*(?:\s+|$)(.*)', rest + " ")
    if match is None:
        return None
    return unquote_value(match.group(1)), match.group(2).strip()


def _group_matchers(name: str, ctx: Context, verb: str, every_label: bool) -> list[str]:
    members = [fingerprint for fingerprint, alertname in ctx.alerts if alertname == name]
    if not members:
        raise SlashError(f"/{verb}: no alert named {name!r}")
    if not every_label:
        return group_matchers(name, [])
    return group_matchers(name, [ctx.labels.get(fingerprint, {}) for fingerprint in members])


def _ack(rest: str, ctx: Context) -> Action:
    if not rest:
        if ctx.selected_group is not None:
            return Action("alerts.acknowledged", {"matchers": group_matchers(ctx.selected_group, [])})
        if ctx.selected_alert is None:
            raise SlashError("/ack: select an alert first, or name it")
        return Action("alert.acknowledged", {"fingerprint": ctx.selected_alert})
    if (group := _group_name(rest)) is not None:
        if group[1]:
            raise SlashError("usage: /ack ALERTNAME * (the whole group)")
        return Action("alerts.acknowledged", {"matchers": _group_matchers(group[0], ctx, "ack", False)})
    fingerprint = _named_alert(rest, ctx, "ack")
    if fingerprint is None:
        raise SlashError(f"/ack: no alert named {rest!r}")
    return Action("alert.acknowledged", {"fingerprint": fingerprint})


def _pick_alert(rest: str, ctx: Context, verb: str) -> tuple[str, str]:
    """The alert named first in ``rest`` (fingerprint or alertname), else the selected one; and the rest."""
    word, _, tail = rest.partition(" ")
    if word and (fingerprint := _named_alert(word, ctx, verb)) is not None:
        return fingerprint, tail.strip()
    if ctx.selected_alert is None:
        raise SlashError(f"/{verb}: select an alert first, or name it")
    return ctx.selected_alert, rest


def _silence(rest: str, ctx: Context) -> Action:
    usage = "usage: /silence [ALERT|ALERTNAME *] 2h REASON (a duration in m or h, then why)"
    group = _group_name(rest)
    if group is None and ctx.selected_group is not None and re.match(r"\d+[mh]\s", rest):
        group = (ctx.selected_group, rest)  # on a group's row: the whole group
    if group is not None:
        name, rest = group
    else:
        fingerprint, rest = _pick_alert(rest, ctx, "silence")
    match = re.fullmatch(r"(\d+)([mh])\s+(.+)", rest)
    if match is None:
        raise SlashError(usage)
    minutes = int(match.group(1)) * (60 if match.group(2) == "h" else 1)
    data = {"minutes": minutes, "reason": match.group(3), "upstream": ctx.alertmanager}
    if group is not None:
        return Action("alerts.silenced", {"matchers": _group_matchers(name, ctx, "silence", True), **data})
    return Action("alert.silenced", {"fingerprint": fingerprint, **data})


def _unsilence(rest: str, ctx: Context) -> Action:
    return Action("alert.unsilenced", {"fingerprint": _pick_alert(rest, ctx, "unsilence")[0]})


def _attach(rest: str, ctx: Context) -> Action:
    fingerprint, rest = _pick_alert(rest, ctx, "attach")
    if not rest or " " in rest:
        raise SlashError("usage: /attach [ALERT] INC-N")
    return Action("alert.moved", {"fingerprint": fingerprint, "to": rest})


def _escalate(rest: str, ctx: Context) -> Action:
    fingerprint, rest = _pick_alert(rest, ctx, "escalate")
    match = re.fullmatch(r"(?i)(?:sev)?([1-4])?", rest.strip())
    if match is None:
        raise SlashError("usage: /escalate [SEV1-4]")
    data = {"fingerprint": fingerprint}
    if match.group(1):
        data["severity"] = f"SEV{match.group(1)}"
    return Action("escalate", data)  # the screen declares the incident, then moves the alert into it


def _step_ref(rest: str, ctx: Context, verb: str) -> tuple[tuple[str, str], str]:
    """The step named first in ``rest`` (``RUNBOOK/STEP`` or a step id only one runbook has),
    else the selected step; and the rest of the line."""
    word, _, tail = rest.partition(" ")
    if word:
        try:
            return resolve_step(word, ctx.steps), tail.strip()
        except StepLookup as why:
            if why.kind == AMBIGUOUS:
                raise SlashError(
                    f"/{verb}: {len(why.found)} runbooks have a step {word}: write RUNBOOK/{word}"
                ) from None
            # Anything else names no step: the word is the first of the text, for the selected step.
    if ctx.selected_step is None:
        raise SlashError(f"/{verb}: select a runbook step first, or name it (RUNBOOK/STEP)")
    return ctx.selected_step, rest


def _skip(rest: str, ctx: Context) -> Action:
    (runbook, step), reason = _step_ref(rest, ctx, "skip")
    reason = _need(reason, "/skip needs a reason: /skip [STEP] REASON")
    return Action("step.skipped", {"runbook": runbook, "step": step, "reason": reason})


def _assign(rest: str, ctx: Context) -> Action:
    (runbook, step), who = _step_ref(rest, ctx, "assign")
    name = ctx.me if who == "me" else who[1:] if who.startswith("@") and len(who) > 1 else None
    if name is None or " " in name:
        raise SlashError("usage: /assign [STEP] @NAME|me")
    return Action("step.assigned", {"runbook": runbook, "step": step, "to": name})


def _stepnote(rest: str, ctx: Context) -> Action:
    (runbook, step), text = _step_ref(rest, ctx, "stepnote")
    text = _need(text, "/stepnote needs some text: /stepnote [STEP] TEXT")
    return Action("step.noted", {"runbook": runbook, "step": step, "text": text})


def _runbook(rest: str, ctx: Context) -> Action:
    if not rest:
        return Action("runbook.pick")  # the screen opens the picker
    if " " in rest:
        raise SlashError("usage: /runbook [ID]")
    return Action("runbook.attached", {"runbook": rest})


def _debrief(rest: str, ctx: Context) -> Action:
    if rest:
        raise SlashError("usage: /debrief (it takes nothing: the debrief of this drill)")
    return Action("debrief.open")  # the screen opens it, or says why not


_HANDLERS: dict[str, Callable[[str, Context], Action]] = {
    "debrief": _debrief,
    "runbook": _runbook,
    "skip": _skip,
    "assign": _assign,
    "stepnote": _stepnote,
    "silence": _silence,
    "unsilence": _unsilence,
    "attach": _attach,
    "escalate": _escalate,
    "status": _status,
    "sev": _sev,
    "services": _services,
    "impact": _impact,
    "role": _role,
    "broadcast": _broadcast,
    "pin": _pin,
    "unpin": _unpin,
    "strike": _strike,
    "edit": _edit,
    "item": _item,
    "check": _check,
    "ack": _ack,
    "accept": _role_answer("role.accepted", "accept"),
    "decline": _role_answer("role.declined", "decline"),
    "takeover": _role_answer("role.taken_over", "takeover"),
    "action": _action,
    "done": _done,
}
