"""Where settings come from: flags, then environment variables, then the config file.

The config file is TOML in the user config dir (``warroom config-path`` prints
where), for example::

    hub = "ws://warroom.internal:8765"
    token = "..."
    name = "alice"
"""

from __future__ import annotations

import getpass
import os
import ssl
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

APP = "warroom"
DEFAULT_HUB = "ws://127.0.0.1:8765"


class ConfigError(Exception):
    """A config file or value that cannot be used; the message names the file and field."""


def config_dir() -> Path:
    return Path(os.environ.get("WARROOM_CONFIG_DIR") or platformdirs.user_config_dir(APP))


def data_dir() -> Path:
    return Path(os.environ.get("WARROOM_DATA_DIR") or platformdirs.user_data_dir(APP))


def default_db() -> Path:
    return data_dir() / "hub.db"


def load_file(path: Path | None = None) -> dict[str, Any]:
    path = path or config_dir() / "config.toml"
    if not path.exists():
        return {}
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    for key in ("hub", "token", "name", "theme", "ca", "runbooks", "schedules"):
        if key in raw and not isinstance(raw[key], str):
            raise ConfigError(f"{path}: {key} must be a string")
    return raw


@dataclass(frozen=True)
class ClientSettings:
    hub: str
    token: str
    name: str
    ca: str | None = None  # a private CA to verify a wss:// hub with

    def tls(self) -> ssl.SSLContext | None:
        if self.ca is None:
            return None
        try:
            return ssl.create_default_context(cafile=self.ca)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"--ca {self.ca}: cannot use it as a CA bundle: {exc}") from None


def client_settings(
    hub: str | None, token: str | None, name: str | None, ca: str | None = None
) -> ClientSettings:
    file = load_file()
    hub = hub or os.environ.get("WARROOM_HUB") or file.get("hub") or DEFAULT_HUB
    for url in hub.split(","):
        if not url.strip().startswith(("ws://", "wss://")):
            raise ConfigError(f"--hub must be ws:// or wss:// URLs, separated by commas; got {url.strip()!r}")
    token = _token(token, file)
    name = name or os.environ.get("WARROOM_NAME") or file.get("name") or _login()
    ca = ca or os.environ.get("WARROOM_CA") or file.get("ca")
    return ClientSettings(hub=hub, token=token, name=name, ca=ca)


def _token(given: str | None, file: dict[str, Any]) -> str:
    """The first token set; one set but empty is a mistake, not a reason to try the next."""
    for where, token in (
        ("--token", given),
        ("WARROOM_TOKEN", os.environ.get("WARROOM_TOKEN")),
        ("token in the config file", file.get("token")),
    ):
        if token is not None:
            if not token.strip():
                raise ConfigError(f"{where} is empty")
            return token
    raise ConfigError("no token: pass --token, set WARROOM_TOKEN, or put token in the config file")


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "responder"
