"""``warroom serve --log-format json`` (or ``log_format`` in the config): one JSON object a line."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from pathlib import Path

import pytest

from server.logs import JsonFormatter
from tests.conftest import TOKEN

FIELDS = {"ts", "level", "logger", "message"}


@pytest.mark.parametrize("how", ["flag", "config"])
async def test_a_real_hub_logs_one_json_object_a_line(tmp_path: Path, env: dict[str, str], how: str) -> None:
    args = ["serve", "--port", "0", "--http-port", "0", "--db", str(tmp_path / "hub.db"), "--token", TOKEN]
    if how == "flag":
        args += ["--log-format", "json"]
    else:
        config = tmp_path / "hub.toml"
        config.write_text('log_format = "json"\n')
        args += ["--config", str(config)]
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "warroom",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    try:
        while b"is up" not in await asyncio.wait_for(proc.stdout.readline(), 30):
            pass
        http_line = await asyncio.wait_for(proc.stdout.readline(), 30)
        while b"http " not in http_line:
            http_line = await asyncio.wait_for(proc.stdout.readline(), 30)
        port = int(http_line.decode().rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"NONSENSE\r\n\r\n")  # uvicorn logs a warning of its own: it must be JSON too
        await reader.read()
        writer.close()
        proc.send_signal(signal.SIGHUP)  # a reload: logged at INFO with a config, ERROR without
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0
    lines = [json.loads(line) for line in err.decode().splitlines()]  # every line parses
    assert lines and all(set(line) >= FIELDS for line in lines)
    said = [(line["logger"], line["message"], line["level"]) for line in lines]
    assert ("warroom.serve", "shutting down", "INFO") in said
    assert any(line["message"].startswith("SIGHUP") for line in lines)
    assert any(line["logger"].startswith("uvicorn") for line in lines)
    assert all(line["ts"].endswith("Z") and line["ts"][:2] == "20" for line in lines)


def test_extras_and_tracebacks_ride_along_and_control_characters_stay_inert() -> None:
    logger = logging.getLogger("warroom.test")
    try:
        raise ValueError("boom")
    except ValueError:
        record = logger.makeRecord(
            "warroom.test",
            logging.ERROR,
            __file__,
            1,
            "sink %s failed: %s",
            ("ops", "\x1b]0;owned\x07\nforged line"),
            sys.exc_info(),
            extra={"room": "INC-7", "attempt": 3},
        )
    text = JsonFormatter().format(record)
    assert "\n" not in text and "\x1b" not in text and "\x07" not in text
    line = json.loads(text)
    assert line["message"] == "sink ops failed: \x1b]0;owned\x07\nforged line"  # exact, once decoded
    assert (line["room"], line["attempt"], line["level"], line["logger"]) == (
        "INC-7",
        3,
        "ERROR",
        "warroom.test",
    )
    assert "ValueError: boom" in line["exc_info"]


def test_a_bad_log_format_in_the_config_is_refused() -> None:
    from server.config import HubConfigError, parse_hub_config

    with pytest.raises(HubConfigError, match="log_format"):
        parse_hub_config({"log_format": "xml"})
