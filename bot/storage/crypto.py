"""Gateway tokens are encrypted at rest (Fernet: AES-128-CBC + HMAC-SHA256).

The key comes from `ENCRYPTION_KEY`. Without it, one is generated on first start and kept in
`secret.key` beside the SQLite file (or in `data/`), with a warning: losing that file means every
linked chat has to be connected again, and whoever holds the file and the database holds the tokens.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

log = logging.getLogger(__name__)


class TokenCipher:
    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def encrypt(self, token: str) -> str:
        return self._fernet.encrypt(token.encode()).decode()

    def decrypt(self, secret: str) -> str:
        try:
            return self._fernet.decrypt(secret.encode()).decode()
        except InvalidToken:
            raise ValueError(
                "a stored gateway token cannot be decrypted: wrong ENCRYPTION_KEY?"
            ) from None


def load_cipher(configured_key: str | None, key_dir: Path) -> TokenCipher:
    if configured_key:
        try:
            return TokenCipher(configured_key.encode())
        except ValueError:
            raise ValueError(
                "ENCRYPTION_KEY must be a Fernet key (32 url-safe base64 bytes); "
                'make one with: python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
            ) from None
    path = key_dir / "secret.key"
    if not path.exists():
        key_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as file:
            file.write(Fernet.generate_key())
        log.warning("ENCRYPTION_KEY is not set: generated %s; keep it with the database", path)
    else:
        log.warning("ENCRYPTION_KEY is not set: using the key in %s", path)
    return TokenCipher(path.read_bytes().strip())
