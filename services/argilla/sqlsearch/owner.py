"""Give the default owner (user ``argilla``) the stack's credentials, read from its file:

    python -m sqlsearch.owner <data-dir>/credentials.json

argilla-server's own ``database users create_default`` takes the key and the password as
command-line options, where every local user can read them (``ps``, /proc/<pid>/cmdline);
this script reads them from the file (mode 0600) instead. It creates the owner when the
database has none, and when the owner exists with another key (a database made before the
credentials file, or a file deleted to rotate them) sets its key and password to the file's.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from argilla_server.cli.database.users.utils import get_or_new_workspace
from argilla_server.constants import DEFAULT_USERNAME
from argilla_server.contexts import accounts
from argilla_server.database import AsyncSessionLocal
from argilla_server.models import User, UserRole


async def ensure_owner(api_key: str, password: str) -> str:
    """What was done: "created", "updated" or "unchanged"."""
    async with AsyncSessionLocal() as session:
        user = await accounts.get_user_by_username(session, DEFAULT_USERNAME)
        if user is None:
            await User.create(
                session,
                first_name="",
                username=DEFAULT_USERNAME,
                role=UserRole.owner,
                api_key=api_key,
                password_hash=accounts.hash_password(password),
                workspaces=[await get_or_new_workspace(session, DEFAULT_USERNAME)],
            )
            return "created"
        if user.api_key != api_key:
            await user.update(
                session, api_key=api_key, password_hash=accounts.hash_password(password)
            )
            return "updated"
        return "unchanged"


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: python -m sqlsearch.owner CREDENTIALS_FILE")
    stored = json.loads(Path(sys.argv[1]).read_text())
    done = asyncio.run(ensure_owner(str(stored["api_key"]), str(stored["password"])))
    print(f"owner {DEFAULT_USERNAME!r}: {done}")  # never the secrets: this goes to a log


if __name__ == "__main__":
    main()
