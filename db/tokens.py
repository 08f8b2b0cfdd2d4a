"""API tokens: created with a role (reporter < operator < admin), stored only as a hash,
checked on every lab request, revoked by id. The secret is shown once, at creation."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.engine import Engine
from sqlmodel import Session

from db.errors import InvalidRequest, NotAllowed, NotFound, NotSignedIn
from db.models import ApiToken, TokenRole, aware_utc, iso_utc, utcnow
from db.transactions import read

TOKEN_PREFIX = "vit_"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()



def create_token(session: Session, *, name: str, role: str, created_by: str | None = None) -> tuple[ApiToken, str]:
    """A new token; returns the row and the secret, which is not stored and cannot be shown again."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise InvalidRequest("a token needs a name (who holds it), at most 100 characters")
    try:
        role = TokenRole(str(role).strip().lower()).value
    except ValueError:
        raise InvalidRequest(f"unknown role {role!r}; roles: {', '.join(r.value for r in TokenRole)}") from None
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(name=name, role=role, token_hash=hash_secret(secret), prefix=secret[:10], created_by=created_by)
    session.add(token)
    session.flush()
    return token, secret



def authenticate(session: Session, secret: str | None) -> ApiToken | None:
    """The live token with this secret, or None. Compares sha256 digests in constant time."""
    if not secret or not isinstance(secret, str) or len(secret) > 200:
        return None
    digest = hash_secret(secret.strip())
    token = session.exec(select(ApiToken).where(ApiToken.token_hash == digest)).scalar_one_or_none()
    if token is None or not hmac.compare_digest(token.token_hash, digest) or token.revoked_at is not None:
        return None
    return token



def authenticate_engine(engine: Engine, secret: str | None) -> ApiToken | None:
    """:func:`authenticate` in its own short session; notes when the token was last used (at most every 5 min)."""
    token = read(engine, lambda s: authenticate(s, secret))
    if token is not None:
        last = aware_utc(token.last_used_at)
        if last is None or utcnow() - last > timedelta(minutes=5):
            try:
                with Session(engine) as s:
                    s.execute(update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=utcnow()))
                    s.commit()
            except OperationalError:
                pass  # bookkeeping only: never fail a request for it
    return token



def require_role(token: ApiToken | None, role: TokenRole | str) -> ApiToken:
    role = TokenRole(role)
    if token is None:
        raise NotSignedIn("this needs an API token (Authorization: Bearer <token>); create one with `vitrify token create`")
    if TokenRole(token.role).level < role.level:
        raise NotAllowed(f"token {token.name!r} has role {token.role}; this needs {role.value}")
    return token



def list_tokens(session: Session, *, include_revoked: bool = False) -> list[dict]:
    query = select(ApiToken).order_by(ApiToken.id)
    if not include_revoked:
        query = query.where(ApiToken.revoked_at.is_(None))
    return [token_info(t) for t in session.exec(query).scalars()]



def token_info(token: ApiToken) -> dict:
    return {
        "id": token.id, "name": token.name, "role": token.role, "prefix": token.prefix,
        "created_at": iso_utc(token.created_at), "created_by": token.created_by,
        "revoked_at": iso_utc(token.revoked_at), "last_used_at": iso_utc(token.last_used_at),
    }



def revoke_token(session: Session, token_id: int) -> dict:
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFound(f"no token with id {token_id}")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        session.add(token)
        session.flush()
    return token_info(token)
