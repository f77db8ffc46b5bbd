"""`bot.storage.crypto`: gateway tokens encrypted at rest."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bot.storage.crypto import TokenCipher, load_cipher

TOKEN = "Es7OhIYSuG2N-klS"


def test_round_trip_and_ciphertext_hides_token() -> None:
    cipher = TokenCipher(Fernet.generate_key())
    secret = cipher.encrypt(TOKEN)
    assert TOKEN not in secret
    assert secret != cipher.encrypt(TOKEN)  # random IV: same token, different ciphertext
    assert cipher.decrypt(secret) == TOKEN
    assert cipher.decrypt(cipher.encrypt("токен 🙂")) == "токен 🙂"


def test_wrong_key_is_value_error_naming_the_setting() -> None:
    secret = TokenCipher(Fernet.generate_key()).encrypt(TOKEN)
    with pytest.raises(ValueError, match="ENCRYPTION_KEY"):
        TokenCipher(Fernet.generate_key()).decrypt(secret)


def test_garbage_ciphertext_is_value_error() -> None:
    with pytest.raises(ValueError):
        TokenCipher(Fernet.generate_key()).decrypt("not a fernet token")


def test_configured_key_is_used(tmp_path: Path) -> None:
    key = Fernet.generate_key()
    cipher = load_cipher(key.decode(), tmp_path / "data")
    assert TokenCipher(key).decrypt(cipher.encrypt(TOKEN)) == TOKEN
    assert not (tmp_path / "data").exists()  # nothing written when the key is configured


@pytest.mark.parametrize(
    "key",
    ["short", "x" * 44, Fernet.generate_key().decode()[:-2]],
    ids=["short", "not-base64", "cut"],
)
def test_invalid_configured_key_has_a_helpful_message(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError) as caught:
        load_cipher(key, tmp_path)
    message = str(caught.value)
    assert "ENCRYPTION_KEY" in message
    assert "Fernet.generate_key()" in message
    assert key not in message  # the (wrong) secret itself is not echoed


def test_generated_key_file_is_private_and_reused(tmp_path: Path) -> None:
    key_dir = tmp_path / "nested" / "data"
    first = load_cipher(None, key_dir)
    key_file = key_dir / "secret.key"
    assert key_file.is_file()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    content = key_file.read_bytes()
    Fernet(content.strip())  # a valid key

    secret = first.encrypt(TOKEN)
    second = load_cipher("", key_dir)  # empty means "not set" as well
    assert key_file.read_bytes() == content  # not regenerated
    assert second.decrypt(secret) == TOKEN
    assert list(key_dir.iterdir()) == [key_file]


def test_two_directories_get_different_keys(tmp_path: Path) -> None:
    a = load_cipher(None, tmp_path / "a")
    b = load_cipher(None, tmp_path / "b")
    with pytest.raises(ValueError):
        b.decrypt(a.encrypt(TOKEN))
