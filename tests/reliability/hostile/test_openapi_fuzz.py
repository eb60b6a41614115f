"""schemathesis against the service's own ``/openapi.json``: every operation with
generated valid and invalid requests, then chains of operations linked by the ids
their responses return (so that successful reads and moves are checked too, not only
404s for random ids). Each response must be no 5xx, have a documented status and media
type, and match the documented schema; none may leak internals."""

from __future__ import annotations

import collections
from typing import Any, cast

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from infrastructure.memory.store import MemoryStore
from interfaces.container import Container, use_in_memory
from interfaces.http.app import create_app
from tests.api.helpers import LEAKS
from tests.reliability.hostile.conftest import Served, always_ready

pytestmark = pytest.mark.reliability

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
BOUNDED = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)


def served_document() -> dict[str, Any]:
    """What ``/openapi.json`` serves: it does not depend on the adapter."""
    container = Container()
    use_in_memory(container, MemoryStore())
    return create_app(container, admin_token=None, readiness=always_ready).openapi()


schema = schemathesis.openapi.from_dict(served_document())


@schema.hook
def flatmap_body(context: schemathesis.HookContext, body: Any) -> st.SearchStrategy[Any]:
    """Mostly real currencies: the schema admits any string, and random ones would
    stop nearly every deposit at validation, leaving the success paths untried."""
    if not (isinstance(body, dict) and isinstance(body.get("currency"), str)):
        return st.just(body)
    currencies = st.sampled_from([body["currency"], "USD", "USD", "JPY"])
    return currencies.map(lambda currency: {**body, "currency": currency})


def assert_no_leak(response: schemathesis.Response) -> None:
    for leak in LEAKS:
        assert leak not in response.text, response.text[:500]


@schema.parametrize()
@BOUNDED
def test_every_operation_answers_as_its_schema_says(
    case: schemathesis.Case[Any], served: Served
) -> None:
    response = case.call_and_validate(
        app=served.app, headers=served.headers_for(case.path), checks=CHECKS
    )
    assert_no_leak(response)


def test_chains_of_operations_answer_as_the_schema_says(served: Served) -> None:
    statuses: collections.Counter[tuple[str, int]] = collections.Counter()

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            # A tenant of its own per scenario: a replayed scenario then meets the same
            # state (its own accounts only), which hypothesis needs to shrink it.
            self.served = served.as_new_client()

        def get_call_kwargs(self, case: schemathesis.Case[Any]) -> dict[str, Any]:
            return {"app": served.app, "headers": self.served.headers_for(case.path)}

        def validate_response(
            self,
            response: schemathesis.Response,
            case: schemathesis.Case[Any],
            additional_checks: Any = None,
            **kwargs: Any,
        ) -> None:
            statuses[(case.operation.label, response.status_code)] += 1
            case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)
            assert_no_leak(response)

    # More routes mean more chains that never open an account: 80 chains reach some.
    Workflow.run(settings=settings(BOUNDED, max_examples=80, stateful_step_count=15))
    # The chains reached real accounts: operations on their ids succeeded, not only 404s.
    reached = {label for label, status in statuses if "{account_id}" in label and status < 300}
    assert len(reached) >= 3, statuses


def test_the_fuzzed_document_is_the_one_served(served: Served) -> None:
    with asgi.get_client(cast(Any, served.app)) as http:
        response = http.get("/openapi.json")
    assert response.status_code == 200
    assert response.json() == served_document()
