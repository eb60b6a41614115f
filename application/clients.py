"""Use cases on API clients: create one (its key shown once), authenticate a key,
rotate a client's key and revoke its keys."""

from __future__ import annotations

import hashlib
import uuid
from collections import OrderedDict
from datetime import datetime, timedelta

from application.commands import Authenticate, CreateApiClient, RevokeApiKeys, RotateApiKey
from application.ports import Clock, IdFactory, SecretFactory
from application.transactions import Transactions
from application.validation import MAX_CLIENT_NAME, valid_text
from application.views import ClientIdentity, NewApiClient, NewApiKey, RevokedClient
from domain.api_client import MAX_KEY_OVERLAP, ApiClient
from domain.errors import ClientNotFoundError, UnauthorizedError, ValidationError
from domain.ports import UnitOfWork

API_KEY_PREFIX = "bk_"
DEFAULT_KEY_CACHE_TTL = 5.0


def hash_api_key(api_key: str) -> str:
    """Keys are long random secrets, so one SHA-256 is enough (no password stretching)."""
    return hashlib.sha256(api_key.encode("utf-8", "surrogatepass")).hexdigest()


class ClientService:
    """Creates API clients, authenticates, rotates and revokes their keys.

    A key that authenticated is remembered for ``key_cache_ttl`` seconds (and never past
    the end of its overlap), saving a database transaction on most requests. A
    rotation or revocation drops this process's memory of the client at once; another
    process (worker) trusts what it remembers until its entry ends, so a revoked key
    answers 401 everywhere within ``key_cache_ttl`` seconds. Unknown keys are not
    remembered, so a key created meanwhile works at once.
    """

    def __init__(
        self,
        transactions: Transactions,
        clock: Clock,
        new_id: IdFactory,
        new_secret: SecretFactory,
        remembered_keys: int = 10_000,
        key_cache_ttl: float = DEFAULT_KEY_CACHE_TTL,
    ) -> None:
        self._transactions = transactions
        self._clock = clock
        self._new_id = new_id
        self._new_secret = new_secret
        self._identities: OrderedDict[str, tuple[ClientIdentity, datetime]] = OrderedDict()
        self._remembered_keys = remembered_keys
        self._key_cache_ttl = timedelta(seconds=key_cache_ttl)

    async def create(self, command: CreateApiClient) -> NewApiClient:
        """A new tenant; the returned key is never retrievable again."""
        name = valid_text(command.name, "name", MAX_CLIENT_NAME, required=True)
        assert name is not None
        api_key = self._new_key()
        client = ApiClient(
            id=self._new_id(),
            name=name,
            key_hash=hash_api_key(api_key),
            created_at=self._clock.now(),
        )

        async for uow in self._transactions.attempts():
            async with uow:
                await uow.clients.add(client)
                await uow.commit()
        return NewApiClient(
            id=client.id, name=client.name, api_key=api_key, created_at=client.created_at
        )

    async def authenticate(self, command: Authenticate) -> ClientIdentity:
        key_hash = hash_api_key(command.api_key)
        now = self._clock.now()
        remembered = self._identities.get(key_hash)
        if remembered is not None:
            identity, until = remembered
            if now < until:
                self._identities.move_to_end(key_hash)
                return identity
            del self._identities[key_hash]

        async with self._transactions.read() as uow:
            client = await uow.clients.get_by_key_hash(key_hash)
        valid_until = None if client is None else client.key_valid_until(key_hash, now)
        if client is None or valid_until is None:
            raise UnauthorizedError()
        identity = ClientIdentity(id=client.id, name=client.name)
        if self._key_cache_ttl > timedelta(0):
            self._identities[key_hash] = (identity, min(now + self._key_cache_ttl, valid_until))
            if len(self._identities) > self._remembered_keys:
                self._identities.popitem(last=False)
        return identity

    async def rotate_key(self, command: RotateApiKey) -> NewApiKey:
        """A new key for the client, shown once; the current key keeps working for the
        overlap (unless the client was revoked), and an older previous key stops."""
        overlap = command.overlap_seconds
        limit = int(MAX_KEY_OVERLAP.total_seconds())
        if type(overlap) is not int or not 0 <= overlap <= limit:
            raise ValidationError(f"overlap_seconds must be an integer from 0 to {limit}")
        api_key = self._new_key()
        now = self._clock.now()

        async for uow in self._transactions.attempts():
            async with uow:
                client = await self._client(uow, command.client_id)
                rotated = client.rotated(hash_api_key(api_key), now, timedelta(seconds=overlap))
                await uow.clients.save(rotated)
                await uow.commit()
        self._forget(rotated.id)
        return NewApiKey(
            client_id=rotated.id,
            api_key=api_key,
            created_at=now,
            previous_key_expires_at=rotated.previous_key_expires_at,
        )

    async def revoke_keys(self, command: RevokeApiKeys) -> RevokedClient:
        """Every key of the client stops working (here at once, in other processes
        within the cache TTL). Revoking a revoked client changes nothing."""
        now = self._clock.now()

        async for uow in self._transactions.attempts():
            async with uow:
                revoked = (await self._client(uow, command.client_id)).revoked(now)
                await uow.clients.save(revoked)
                await uow.commit()
        self._forget(revoked.id)
        assert revoked.revoked_at is not None
        return RevokedClient(id=revoked.id, name=revoked.name, revoked_at=revoked.revoked_at)

    @staticmethod
    async def _client(uow: UnitOfWork, client_id: uuid.UUID) -> ApiClient:
        client = await uow.clients.get(client_id)
        if client is None:
            raise ClientNotFoundError()
        return client

    def _forget(self, client_id: uuid.UUID) -> None:
        stale = [key for key, (identity, _) in self._identities.items() if identity.id == client_id]
        for key_hash in stale:
            del self._identities[key_hash]

    def _new_key(self) -> str:
        return API_KEY_PREFIX + self._new_secret()
