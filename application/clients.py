"""Use cases on API clients: create one (its key shown once) and authenticate a key."""

from __future__ import annotations

import hashlib
from collections import OrderedDict

from application.commands import Authenticate, CreateApiClient
from application.ports import Clock, IdFactory, SecretFactory
from application.transactions import Transactions
from application.validation import MAX_CLIENT_NAME, valid_text
from application.views import ClientIdentity, NewApiClient
from domain.api_client import ApiClient
from domain.errors import UnauthorizedError

API_KEY_PREFIX = "bk_"


def hash_api_key(api_key: str) -> str:
    """Keys are long random secrets, so one SHA-256 is enough (no password stretching)."""
    return hashlib.sha256(api_key.encode("utf-8", "surrogatepass")).hexdigest()


class ClientService:
    """Creates API clients and authenticates their keys.

    Clients are never deleted and keys never rotated (API.md has no such operation),
    so a key that authenticated once stays valid: successful look-ups are remembered,
    saving a database transaction on every request. Unknown keys are not remembered,
    so a key created meanwhile works at once. Revocation, if it comes, must drop this.
    """

    def __init__(
        self,
        transactions: Transactions,
        clock: Clock,
        new_id: IdFactory,
        new_secret: SecretFactory,
        remembered_keys: int = 10_000,
    ) -> None:
        self._transactions = transactions
        self._clock = clock
        self._new_id = new_id
        self._new_secret = new_secret
        self._identities: OrderedDict[str, ClientIdentity] = OrderedDict()
        self._remembered_keys = remembered_keys

    async def create(self, command: CreateApiClient) -> NewApiClient:
        """A new tenant; the returned key is never retrievable again."""
        name = valid_text(command.name, "name", MAX_CLIENT_NAME, required=True)
        assert name is not None
        api_key = API_KEY_PREFIX + self._new_secret()
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
        remembered = self._identities.get(key_hash)
        if remembered is not None:
            self._identities.move_to_end(key_hash)
            return remembered

        async with self._transactions.read() as uow:
            client = await uow.clients.get_by_key_hash(key_hash)
        if client is None:
            raise UnauthorizedError()
        identity = ClientIdentity(id=client.id, name=client.name)
        self._identities[key_hash] = identity
        if len(self._identities) > self._remembered_keys:
            self._identities.popitem(last=False)
        return identity
