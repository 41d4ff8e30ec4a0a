"""Who may connect: JSON Web Tokens checked at the handshake (lesson improvement 2).

PyJWT does the cryptography and the claim checks; this module chooses what to allow
(an explicit list of algorithms, never ``none``, never an HMAC secret where a public
key is configured) and turns each way a token can fail into a short reason a client
can act on. Pure: no socket, no clock but PyJWT's. PyJWT (and ``cryptography`` with it, some
10 MB) is imported only once a key is configured: a server without tokens never
loads it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import parse_qsl, urlsplit

__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "HMAC_ALGORITHMS",
    "AuthError",
    "Claims",
    "TokenVerifier",
    "mint",
    "token_of",
]

HMAC_ALGORITHMS = ("HS256", "HS384", "HS512")
ASYMMETRIC_ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "PS256")
MAX_TOKEN_LENGTH = 8192  # a token is a few hundred bytes; past this it is not one


@dataclass(frozen=True, slots=True)
class Claims:
    """What a valid token says: who, until when, and which tours (``None``: all)."""

    sub: str
    expires: float | None = None  # seconds since the epoch
    tours: frozenset[str] | None = None


class AuthError(Exception):
    """A refused token; ``reason`` is one word (``expired``), ``message`` says what to do."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@cache
def _reasons() -> tuple[tuple[type[Exception], str, str], ...]:
    """PyJWT's exceptions, most specific first, and what the client is told."""
    import jwt

    return (
        (jwt.ExpiredSignatureError, "expired", "the token has expired; get a new one"),
        (jwt.ImmatureSignatureError, "not_yet_valid", "the token is not valid yet (nbf/iat)"),
        (jwt.InvalidAudienceError, "bad_audience", "the token is for another audience (aud)"),
        (jwt.InvalidIssuerError, "bad_issuer", "the token comes from another issuer (iss)"),
        (jwt.MissingRequiredClaimError, "missing_claim", "the token lacks a required claim"),
        (jwt.InvalidAlgorithmError, "wrong_algorithm", "the token's algorithm is not allowed"),
        (jwt.InvalidSignatureError, "bad_signature", "the token's signature does not verify"),
        (jwt.DecodeError, "malformed", "the token is not a well-formed JWT"),
        (jwt.InvalidTokenError, "invalid", "the token is not valid"),
    )


class TokenVerifier:
    """Checks tokens against one key, a list of algorithms and optional ``aud``/``iss``."""

    def __init__(
        self,
        key: str,
        *,
        algorithms: Sequence[str],
        audience: str | None = None,
        issuer: str | None = None,
    ) -> None:
        asymmetric = "BEGIN" in key  # a PEM public key rather than a shared secret
        allowed = ASYMMETRIC_ALGORITHMS if asymmetric else HMAC_ALGORITHMS
        if not algorithms or any(alg not in allowed for alg in algorithms):
            kind = "a public key" if asymmetric else "a shared secret"
            raise ValueError(
                f"with {kind} the JWT algorithms must be among {', '.join(allowed)}, "
                f"got {', '.join(algorithms) or 'none'}"
            )
        import jwt

        self._jwt = jwt
        self._key = key  # PyJWT reads a PEM public key itself
        self.algorithms = list(algorithms)
        self.audience = audience
        self.issuer = issuer

    def verify(self, token: str | None) -> Claims:
        """The claims of ``token``; raises :class:`AuthError` with the reason otherwise."""
        if not token:
            raise AuthError(
                "missing", "this feed needs a token: ?token=… or an Authorization: Bearer header"
            )
        if len(token) > MAX_TOKEN_LENGTH:
            raise AuthError("malformed", "the token is too long to be a JWT")
        try:
            payload = self._jwt.decode(
                token,
                self._key,
                algorithms=self.algorithms,
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["sub"]},
            )
        except Exception as exc:  # PyJWT raises only its own errors, mapped below
            raise _auth_error(exc) from None
        return _claims(payload)


def _auth_error(exc: Exception) -> AuthError:
    for kind, reason, message in _reasons():
        if isinstance(exc, kind):
            return AuthError(reason, message)
    return AuthError("invalid", "the token is not valid")


def _claims(payload: dict[str, Any]) -> Claims:
    sub, exp, tours = payload.get("sub"), payload.get("exp"), payload.get("tours")
    if not isinstance(sub, str) or not sub:
        raise AuthError("bad_claims", "the token's sub claim must be a non-empty string")
    if tours is not None and (
        not isinstance(tours, list) or not all(isinstance(t, str) for t in tours)
    ):
        raise AuthError("bad_claims", "the token's tours claim must be a list of tour ids")
    return Claims(
        sub=sub,
        expires=float(exp) if isinstance(exp, int | float) else None,
        tours=None if tours is None else frozenset(tours),
    )


def token_of(path: str, authorization: str | None) -> str | None:
    """The token a request carries: an ``Authorization: Bearer`` header, else ``?token=``."""
    if authorization is not None:
        scheme, _, credentials = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            return credentials.strip()
    for name, value in parse_qsl(urlsplit(path).query, keep_blank_values=True):
        if name == "token":
            return value
    return None


def mint(
    secret: str,
    *,
    sub: str,
    ttl: float,
    tours: Sequence[str] | None = None,
    audience: str | None = None,
    issuer: str | None = None,
    now: float | None = None,
) -> str:
    """A development token signed with ``secret`` (HS256), valid for ``ttl`` seconds."""
    import jwt

    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {"sub": sub, "iat": issued, "exp": issued + int(ttl)}
    if tours is not None:
        claims["tours"] = list(tours)
    if audience is not None:
        claims["aud"] = audience
    if issuer is not None:
        claims["iss"] = issuer
    return jwt.encode(claims, secret, algorithm="HS256")
