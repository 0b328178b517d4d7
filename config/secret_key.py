"""The signing key of a deployment that was given none: random, made once, kept in the data directory.

Sessions and bearer tokens are signed with ``SECRET_KEY``. No key that appears in the source may ever sign
them (anyone could mint a token for any account), so when the variable is unset outside production the
first process to start draws a random key and writes it to ``DATA_DIR/secret_key`` (mode 0600); every
later process of the same installation (web, worker, beat, a restart) reads the same file. Production
never takes this path: it refuses to start without ``SECRET_KEY`` (``config.Settings``).
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path

log = logging.getLogger(__name__)

FILE_NAME = "secret_key"
MIN_LENGTH = 32


class SecretKeyFileError(RuntimeError):
    """The key file exists but cannot be used."""


def load_or_create(data_dir: Path) -> str:
    """Return the key kept in ``data_dir``, creating it (atomically, mode 0600) on first use."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / FILE_NAME
    if not path.exists():
        _create(path)
    return _read(path)


def _create(path: Path) -> None:
    # Written in full under a private name, then hard-linked into place: a process starting at the same
    # moment (web and worker start together under honcho) either wins the link or reads the winner's
    # complete file, never a half-written one.
    tmp = path.with_name(f".{FILE_NAME}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(secrets.token_urlsafe(48) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
            log.warning("SECRET_KEY is not set: generated a random one in %s (keep this file private)", path)
        except FileExistsError:
            pass
    finally:
        tmp.unlink(missing_ok=True)


def _read(path: Path) -> str:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        # Readable by others: anyone on the machine could sign sessions. Close it before using it.
        os.chmod(path, 0o600)
        log.warning("%s was readable by other users (mode %o); now 0600", path, mode)
    key = path.read_text(encoding="ascii", errors="replace").strip()
    if len(key) < MIN_LENGTH:
        raise SecretKeyFileError(f"{path} holds no usable key; delete it and a new one is generated")
    return key
