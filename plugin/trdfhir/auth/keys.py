"""Signing keys of a SMART backend-services client, and the public JWKS to register or serve.

A key file is a PEM private key (RSA >= 2048 bits -> RS384; EC P-384 -> ES384) or a JSON Web
Key (a private JWK, or a JWKS holding one private key). The key id (`kid`) is the JWK's own, else
the RFC 7638 thumbprint of the public key, so the same key always has the same id.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from ..errors import AuthError

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


@dataclass(frozen=True)
class SigningKey:
    private_key: PrivateKey
    alg: str  # RS384 or ES384
    kid: str

    def public_jwk(self) -> dict[str, Any]:
        return public_jwk(self.private_key.public_key(), kid=self.kid, alg=self.alg)

    def __repr__(self) -> str:  # never show key material
        return f"SigningKey(alg={self.alg!r}, kid={self.kid!r})"


def _alg_for(key: PrivateKey, path: str) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < 2048:
            raise AuthError(f"{path}: RSA key of {key.key_size} bits; use at least 2048")
        return "RS384"
    if isinstance(key.curve, ec.SECP384R1):
        return "ES384"
    raise AuthError(f"{path}: EC key on {key.curve.name}; ES384 needs curve P-384 (secp384r1)")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def public_jwk(key: PublicKey, *, kid: str | None = None, alg: str | None = None) -> dict[str, Any]:
    """The public JWK of a key: kty, kid, alg, use=sig and the public numbers only."""
    if isinstance(key, rsa.RSAPublicKey):
        raw = RSAAlgorithm.to_jwk(key, as_dict=True)
        jwk: dict[str, Any] = {"kty": "RSA", "n": raw["n"], "e": raw["e"]}
        alg = alg or "RS384"
    else:
        raw = ECAlgorithm.to_jwk(key, as_dict=True)
        jwk = {"kty": "EC", "crv": raw["crv"], "x": raw["x"], "y": raw["y"]}
        alg = alg or "ES384"
    jwk.update({"kid": kid or thumbprint(jwk), "alg": alg, "use": "sig", "key_ops": ["verify"]})
    return jwk


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url)."""
    members = ("crv", "kty", "x", "y") if jwk["kty"] == "EC" else ("e", "kty", "n")
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return _b64(hashlib.sha256(canonical.encode("utf-8")).digest())


def public_jwks(keys: Iterable[SigningKey]) -> dict[str, Any]:
    """The JWK Set to register with an authorization server or to serve at the client's JWKS
    URL (the `jku` of its assertions). Public parts only."""
    return {"keys": [k.public_jwk() for k in keys]}


def _from_jwk(data: Any, path: str, kid: str | None) -> tuple[PrivateKey, str | None]:
    if isinstance(data, dict) and isinstance(data.get("keys"), list):
        private = [k for k in data["keys"] if isinstance(k, dict) and "d" in k]
        if kid is not None:
            private = [k for k in private if k.get("kid") == kid]
        if len(private) != 1:
            raise AuthError(f"{path}: the JWKS must hold exactly one private key (or pass its kid)")
        data = private[0]
    if not isinstance(data, dict) or "d" not in data:
        raise AuthError(f"{path}: not a private JWK (no 'd' member)")
    try:
        if data.get("kty") == "RSA":
            key: Any = RSAAlgorithm.from_jwk(data)
        elif data.get("kty") == "EC":
            key = ECAlgorithm.from_jwk(data)
        else:
            raise AuthError(f"{path}: JWK kty must be RSA or EC")
    except (ValueError, KeyError, TypeError) as exc:
        raise AuthError(f"{path}: unreadable JWK ({type(exc).__name__})") from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise AuthError(f"{path}: not a private key")
    own_kid = data.get("kid")
    return key, own_kid if isinstance(own_kid, str) else None


def load_signing_key(
    path: str | Path, *, kid: str | None = None, password: bytes | None = None
) -> SigningKey:
    """Load a private key from a PEM or JWK file; pick RS384/ES384 from the key type."""
    name = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise AuthError(f"cannot read the key file {name}: {exc.strerror or exc}") from None
    stripped = raw.strip()
    own_kid: str | None = None
    if stripped.startswith(b"{"):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError:
            raise AuthError(f"{name}: neither a PEM key nor valid JWK JSON") from None
        key, own_kid = _from_jwk(data, name, kid)
    else:
        try:
            loaded = serialization.load_pem_private_key(stripped, password=password)
        except (ValueError, TypeError) as exc:
            reason = "wrong or missing password" if "password" in str(exc).lower() else "not a PEM"
            raise AuthError(f"{name}: cannot load the private key ({reason})") from None
        if not isinstance(loaded, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise AuthError(f"{name}: the key must be RSA or EC (P-384)")
        key = loaded
    alg = _alg_for(key, name)
    chosen = kid or own_kid or thumbprint(public_jwk(key.public_key(), kid="-", alg=alg))
    return SigningKey(private_key=key, alg=alg, kid=chosen)


def generate_signing_key(alg: str = "RS384", kid: str | None = None) -> SigningKey:
    """A fresh key (tests, sandboxes). Production keys come from files."""
    key: PrivateKey
    if alg == "RS384":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif alg == "ES384":
        key = ec.generate_private_key(ec.SECP384R1())
    else:
        raise AuthError(f"unsupported algorithm {alg}; use RS384 or ES384")
    return SigningKey(
        private_key=key,
        alg=alg,
        kid=kid or thumbprint(public_jwk(key.public_key(), kid="-", alg=alg)),
    )


def private_key_pem(key: SigningKey) -> bytes:
    """PKCS#8 PEM of a key, unencrypted (for writing test and sandbox key files)."""
    return key.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
