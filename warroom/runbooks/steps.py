"""Which attached step a responder means: ``RUNBOOK/STEP``, or a step id only one runbook has.

Pure: the CLI (``warroom runbook run``) and the app's slash commands both ask
it, and each words the answer its own way, so a refusal names what went wrong
(``kind``) rather than carrying a sentence.
"""

from __future__ import annotations

from collections.abc import Iterable

NOT_ATTACHED = "not-attached"  # the runbook named is not attached
NO_SUCH_STEP = "no-such-step"  # the runbook is attached, without that step
NOWHERE = "nowhere"  # no attached runbook has a step of that id
AMBIGUOUS = "ambiguous"  # several attached runbooks have it: RUNBOOK/STEP is needed


class StepLookup(Exception):
    """No single step answers to the reference: why (``kind``), and what was looked for.

    ``found`` (for AMBIGUOUS) lists the runbooks that have the step, sorted.
    """

    def __init__(self, kind: str, runbook: str | None, step: str, found: tuple[str, ...] = ()) -> None:
        super().__init__(kind, runbook, step, found)
        self.kind = kind
        self.runbook = runbook
        self.step = step
        self.found = found


def resolve_step(given: str, steps: Iterable[tuple[str, str]], runbook: str | None = None) -> tuple[str, str]:
    """(runbook id, step id) of the attached step ``given`` names, among ``steps`` (runbook, step) pairs.

    ``runbook``, when known apart (``--runbook ID``), scopes ``given`` to it and
    then ``given`` is the step id as written. Raises ``StepLookup``.
    """
    pairs = list(steps)
    if "/" in given and runbook is None:
        runbook, _, step = given.partition("/")
    else:
        step = given
    if runbook is not None:
        if not any(rb == runbook for rb, _ in pairs):
            raise StepLookup(NOT_ATTACHED, runbook, step)
        if (runbook, step) not in pairs:
            raise StepLookup(NO_SUCH_STEP, runbook, step)
        return runbook, step
    found = sorted({rb for rb, st in pairs if st == step})
    if not found:
        raise StepLookup(NOWHERE, None, step)
    if len(found) > 1:
        raise StepLookup(AMBIGUOUS, None, step, tuple(found))
    return found[0], step
