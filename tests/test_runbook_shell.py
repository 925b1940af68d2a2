"""A step's command takes alert values only where shell quoting of them holds."""

from __future__ import annotations

import pytest

from warroom.cli.runbook_run import RunRefused, fill
from warroom.runbooks.shell import misplaced

HOSTILE = "x'; touch /tmp/pwned; echo '$(id)`id`"


@pytest.mark.parametrize(
    ("command", "bare"),
    [
        ("kubectl -n {{labels.ns}} get pods", True),
        ('kubectl get "a b" {{labels.ns}} \\"{{labels.x}}', True),  # an escaped quote opens nothing
        ("echo '{{labels.ns}}'", False),
        ('echo "{{labels.ns}}"', False),
        ("echo `{{labels.ns}}`", False),
        ("cat <<EOF\n{{labels.ns}}\nEOF", False),
    ],
)
def test_only_a_bare_placeholder_is_taken(command: str, bare: bool) -> None:
    assert (misplaced(command) == []) is bare


def test_a_value_is_one_word_however_hostile() -> None:
    assert (
        fill("echo {{labels.ns}}", {"ns": HOSTILE}, {})
        == "echo " + "'x'\"'\"'; touch /tmp/pwned; echo '\"'\"'$(id)`id`'"
    )


@pytest.mark.parametrize(
    ("command", "labels", "refusal"),
    [
        ("echo '{{labels.ns}}'", {"ns": "a"}, "inside 'quotes'"),
        ("cmctl renew {{labels.cert}}", {"cert": "--all"}, "starts with '-'"),
        ("echo {{labels.region}}", {}, "missing label: region"),
    ],
)
def test_what_quoting_cannot_hold_is_not_run(command: str, labels: dict[str, str], refusal: str) -> None:
    with pytest.raises(RunRefused) as err:
        fill(command, labels, {})
    assert refusal in str(err.value)
