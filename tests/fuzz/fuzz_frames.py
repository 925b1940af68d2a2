"""Coverage-guided fuzzing of the frame decoder, the command validator and the token checker, with atheris.

    pip install -e '.[fuzz]' && python tests/fuzz/fuzz_frames.py -max_total_time=60

Any exception other than a WarroomError (a documented refusal) is a bug: the
fuzzer stops and writes the input that caused it. The same properties run in
the normal test suite through hypothesis (tests/test_fuzz.py).
"""

from __future__ import annotations

import contextlib
import sys

import atheris

with atheris.instrument_imports():
    from server.access import ADMIN_ARGS
    from server.tokens import BadToken, verify
    from warroom.core.errors import WarroomError
    from warroom.core.events import validate_command
    from warroom.core.protocol import decode, parse_client_frame
    from warroom.core.reducer import check
    from warroom.core.schema import validate
    from warroom.core.state import IncidentState

SECRET = bytes(range(32))


def one_input(data: bytes) -> None:
    with contextlib.suppress(BadToken):
        verify(SECRET, data.decode("utf-8", "replace"))  # the same bytes as a bearer token
    try:
        kind, fields = parse_client_frame(decode(data))
    except WarroomError:
        return
    if kind == "admin":
        with contextlib.suppress(WarroomError):
            validate(fields.get("args") or {}, ADMIN_ARGS[fields["op"]], where=fields["op"])
        return
    if kind != "cmd":
        return
    try:
        clean = validate_command(fields["type"], fields.get("data") or {})
        state = IncidentState(room="INC-1", seq=1, title="t", severity="SEV2", status="investigating")
        check(state, fields["type"], clean)
    except WarroomError:
        return


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
