"""The container's services as FastAPI dependencies, resolved on the event loop."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dependency_injector import wiring

if TYPE_CHECKING:  # the library types its markers as a protocol, not a class
    from dependency_injector.wiring import Provide as Provide
else:

    class Provide(wiring.Provide):
        """dependency-injector's ``Provide`` marker with a coroutine ``__call__``.

        FastAPI runs every plain-function dependency in a worker thread. The stock
        marker's ``__call__`` is one, so each request paid a thread hand-off per
        injected service only to get the marker back (``@inject`` then swaps in the
        service). A coroutine is awaited on the event loop.
        """

        async def __call__(self):
            return self
