"""The local stack's owner credentials: chosen through the environment, or generated on the
first start and kept in ``<data-dir>/credentials.json`` (mode 0600) for every later start.

Standard library only. The secrets never go on a command line: the owner is created by
``sqlsearch.owner``, which reads this file itself.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import stat
from dataclasses import asdict, dataclass
from pathlib import Path

API_KEY_ENV = "ARGILLA_API_KEY"
PASSWORD_ENV = "ARGILLA_PASSWORD"
FILE_NAME = "credentials.json"
USERNAME = "argilla"  # argilla-server's default owner
# Keys anyone can guess: earlier versions of this stack and argilla-server's own defaults.
WELL_KNOWN_KEYS = frozenset({"embedloop.local.owner.key", "argilla.apikey"})


class CredentialsError(RuntimeError):
    """The credentials file or the environment's secrets cannot be used; the message says why."""


@dataclass(frozen=True)
class Credentials:
    api_key: str
    password: str
    generated: bool  # the key was made up by the stack, not given through ARGILLA_API_KEY
    username: str = USERNAME


def credentials_file(data_dir: Path) -> Path:
    return data_dir / FILE_NAME


def is_loopback(host: str) -> bool:
    """Whether an address (or host name) reaches this machine only."""
    host = host.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load(data_dir: Path) -> Credentials | None:
    """The stored credentials, or None before the first start."""
    path = credentials_file(data_dir)
    try:
        data = json.loads(path.read_text())
        return Credentials(
            api_key=str(data["api_key"]),
            password=str(data["password"]),
            generated=bool(data.get("generated", False)),
            username=str(data.get("username", USERNAME)),
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CredentialsError(
            f"cannot read the owner's credentials in {path} ({err}): fix or delete it "
            "(with the stack stopped; the next start then gives the owner new credentials)"
        ) from None


def ensure(data_dir: Path, api_key: str | None, password: str | None) -> tuple[Credentials, bool]:
    """The stack's credentials and whether this call created them: the stored ones when
    there are some, else the given ones, else fresh random ones, written with mode 0600."""
    stored = load(data_dir)
    path = credentials_file(data_dir)
    if stored is not None:
        if api_key and api_key != stored.api_key:
            raise CredentialsError(
                f"{API_KEY_ENV} is not the key of this stack's owner (kept in {path}): unset "
                f"it to use the stored key, or stop the stack and delete {path} to give the "
                f"owner the key in {API_KEY_ENV}"
            )
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            path.chmod(0o600)
        return stored, False
    created = Credentials(
        api_key=api_key or secrets.token_urlsafe(32),
        password=password or secrets.token_urlsafe(18),
        generated=not api_key,
    )
    if _write_new(path, json.dumps(asdict(created), indent=2) + "\n"):
        return created, True
    return ensure(data_dir, api_key, password)  # another start wrote it first


def _write_new(path: Path, text: str) -> bool:
    """Create ``path`` with mode 0600 and the whole text at once; False if it exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.link(partial, path)  # atomic, and refuses to replace an existing file
    except FileExistsError:
        return False
    finally:
        partial.unlink(missing_ok=True)
    return True


def refuse_public_bind(host: str, api_key: str | None) -> None:
    """Raise unless the stack may listen on ``host`` with a key given by ``api_key``
    (the explicitly chosen key, None when the stack's own would be used)."""
    if is_loopback(host):
        return
    if not api_key:
        raise CredentialsError(
            f"refusing to listen on {host!r}: other machines could reach the API, and its "
            f"owner key was not chosen by you. Set {API_KEY_ENV} to a strong key of your own "
            "(e.g. `openssl rand -hex 32`) to listen there, or keep the default 127.0.0.1"
        )
    if api_key in WELL_KNOWN_KEYS or len(api_key) < 16:
        raise CredentialsError(
            f"refusing to listen on {host!r} with a well-known or short {API_KEY_ENV}: "
            "choose a key of at least 16 random characters (e.g. `openssl rand -hex 32`)"
        )
