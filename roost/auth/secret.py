"""The server-wide secret that signs static token values (Tinybird's ``jwt_secret``).

``ROOST_SECRET`` wins when set. Otherwise ``<data_dir>/secret`` holds 32 random bytes as hex; it is
created on first start (mode 0600, atomically, first writer wins when processes race). The key is
the UTF-8 bytes of that text, so copying the file's contents into ``ROOST_SECRET`` gives the same key.
Changing the secret invalidates every static token value.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

log = logging.getLogger("roost.auth")

ENV_VAR = "ROOST_SECRET"
FILE_NAME = "secret"


def load_secret(data_dir: Path) -> bytes:
    env = os.environ.get(ENV_VAR)
    if env is not None:
        env = env.strip()
        if not env:
            raise ValueError(f"{ENV_VAR} is set but empty")
        return env.encode()
    path = Path(data_dir) / FILE_NAME
    text = _read(path)
    if text is None:
        _create(path)
        text = _read(path)
    if not text:
        raise ValueError(f"secret file {path} is empty")
    return text.encode()


def _read(path: Path) -> str | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    if st.st_mode & 0o077:
        log.warning("secret file %s is readable by group or others (mode %o)", path, st.st_mode & 0o777)
    return path.read_text().strip()


def _create(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{FILE_NAME}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, (secrets.token_bytes(32).hex() + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        # link() fails if another process got there first: its secret wins, ours is dropped.
        os.link(tmp, path)
    except FileExistsError:
        pass
    except OSError:
        # A filesystem without hard links: replace only if still absent (small race accepted).
        if not path.exists():
            os.replace(tmp, path)
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
