"""A page's own action: the unit of work knows how it moved the customer's mirror version
(live.own_change, portal_calls.with_own_change), so the page adopts that version instead of
rendering the mirror again when its own change wakes it (state/portal.py `_run`)."""

from __future__ import annotations

from sqlmodel import Session

from billstack.db import session_scope
from billstack.models import Customer
from billstack.services import live, sync
from billstack.services.portal_calls import with_own_change
from tests.unit.test_live import bump, customer_id  # noqa: F401 - the fixture

def test_a_unit_of_work_knows_the_versions_its_own_change_moved_the_mirror_between(customer_id: str) -> None:
    """What lets a page that shows its own action's result skip rendering the mirror again."""
    start = bump(customer_id)
    with session_scope() as db:
        assert live.own_change(db, customer_id) is None  # nothing changed yet
        customer = db.get(Customer, customer_id)
        sync.bump_mirror_version(db, customer)
        sync.bump_mirror_version(db, customer)  # two writes in one unit: from before the first to after the last
        assert live.own_change(db, customer_id) == (start, start + 2)
    with session_scope() as db:
        assert live.own_change(db, customer_id) is None  # the next unit of work starts clean


def test_with_own_change_answers_the_actions_result_and_its_change(customer_id: str) -> None:
    start = bump(customer_id)

    def changes(db: Session, ctx: object) -> str:
        sync.bump_mirror_version(db, db.get(Customer, customer_id))
        return "done"

    class Ctx:  # what with_own_change reads of a validated context
        customer = Customer(id=customer_id)

    with session_scope() as db:
        assert with_own_change(changes)(db, Ctx()) == ("done", (start, start + 1))
    with session_scope() as db:
        assert with_own_change(lambda db, ctx: "read only")(db, Ctx()) == ("read only", None)
