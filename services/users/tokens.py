"""Access tokens: an ES256 key pair kept in the data directory, JWTs and the JWK Set.

The private key is generated on first start into ``key_dir/signing-key.pem``
(PKCS #8, mode 0600, directory 0700) and reused afterwards, so tokens survive
restarts. Several processes starting at once (SO_REUSEPORT workers) agree on
one key: each writes a candidate to a private temporary file and publishes it
with a hard link, which fails for all but the first; the others load the
winner. The public half is also written to ``key_dir/jwks.json`` for readers
that prefer a file (Envoy's ``local_jwks``, other services on the same host);
the GetJwks RPC serves the same document.

A token's ``kid`` is the key's RFC 7638 thumbprint, so it names the key
itself rather than a file and stays valid across copies.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import secrets
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

log = logging.getLogger(__name__)

ALGORITHM: Final = "ES256"
PRIVATE_KEY_FILE: Final = "signing-key.pem"
JWKS_FILE: Final = "jwks.json"


def _b64url_uint(value: int, length: int) -> str:
    return base64.urlsafe_b64encode(value.to_bytes(length, "big")).rstrip(b"=").decode()


def public_jwk(public_key: ec.EllipticCurvePublicKey) -> dict[str, str]:
    """The JWK (RFC 7517) of a P-256 public key, with its thumbprint as ``kid``."""
    numbers = public_key.public_numbers()
    members = {
        "crv": "P-256",
        "kty": "EC",
        "x": _b64url_uint(numbers.x, 32),
        "y": _b64url_uint(numbers.y, 32),
    }
    # RFC 7638: SHA-256 of the required members, sorted, without whitespace.
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":")).encode()
    kid = base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()
    return {**members, "kid": kid, "alg": ALGORITHM, "use": "sig"}


@dataclass(frozen=True)
class SigningKey:
    private_key: ec.EllipticCurvePrivateKey
    jwk: dict[str, str]

    @property
    def kid(self) -> str:
        return self.jwk["kid"]

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": [self.jwk]}


def load_or_create_signing_key(key_dir: Path) -> SigningKey:
    """The service's signing key, generated into ``key_dir`` on first use."""
    key_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = key_dir / PRIVATE_KEY_FILE
    if not path.exists():
        _publish_new_key(path)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        # A key others can read is a key others can sign with.
        log.warning("tightening permissions of the token signing key", extra={"path": str(path)})
        path.chmod(0o600)
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, ec.EllipticCurvePrivateKey) or not isinstance(
        loaded.curve, ec.SECP256R1
    ):
        raise ValueError(f"{path} is not a P-256 private key; move it away to generate a new one")
    key = SigningKey(private_key=loaded, jwk=public_jwk(loaded.public_key()))
    _write_jwks(key_dir / JWKS_FILE, key.jwks())
    return key


def _publish_new_key(path: Path) -> None:
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    candidate = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(candidate, path)
            log.info("generated a new token signing key", extra={"path": str(path)})
        except FileExistsError:
            pass  # another process published its key first; everybody uses that one
    finally:
        candidate.unlink(missing_ok=True)


def _write_jwks(path: Path, document: dict[str, Any]) -> None:
    content = json.dumps(document, indent=2, sort_keys=True) + "\n"
    if path.exists() and path.read_text() == content:
        return
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    temporary.write_text(content)
    temporary.chmod(0o644)
    os.replace(temporary, path)


class TokenIssuer:
    """Signs access tokens for accounts."""

    def __init__(self, key: SigningKey, *, issuer: str, ttl_seconds: int) -> None:
        self._key = key
        self._issuer = issuer
        self._ttl_seconds = ttl_seconds

    @property
    def key(self) -> SigningKey:
        return self._key

    def issue(
        self, account_id: int, *, session_id: str = "", now: float | None = None
    ) -> tuple[str, int]:
        """A signed token for ``account_id`` (of device session ``session_id``, claim
        ``sid``) and its expiry (Unix seconds)."""
        issued_at = int(time.time() if now is None else now)
        expires_at = issued_at + self._ttl_seconds
        claims = {
            "sub": str(account_id),
            "iss": self._issuer,
            "iat": issued_at,
            "exp": expires_at,
            "jti": secrets.token_urlsafe(12),
        }
        if session_id:
            claims["sid"] = session_id
        token = jwt.encode(
            claims, self._key.private_key, algorithm=ALGORITHM, headers={"kid": self._key.kid}
        )
        return token, expires_at
