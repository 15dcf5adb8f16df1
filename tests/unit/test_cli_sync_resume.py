"""`billstack sync --resume` when there is nothing to resume says so (and still exits 0)."""

from __future__ import annotations

import json

from cli_helpers import make_project, make_team, run
from sqlmodel import Session

from billstack.clock import utcnow
from billstack.ids import new_id
from billstack.models import SyncRun


def test_resume_with_nothing_to_resume_says_so(db_url: str) -> None:
    project_id = make_project(make_team())["id"]

    human = run("sync", "--project", project_id, "--resume")

    assert human.exit_code == 0, human.output
    assert human.stderr == (
        f"warning: nothing to resume: no interrupted sync for project {project_id}, so this was a full sync.\n"
    )
    assert "Synced 0 customers" in human.stdout

    as_json = run("sync", "--project", project_id, "--resume", "--json")
    assert as_json.exit_code == 0, as_json.output
    report = json.loads(as_json.stdout)
    assert report["resumed"] is False
    assert report["warnings"] == [f"nothing to resume: no interrupted sync for project {project_id}, so this was a full sync."]


def test_resuming_an_interrupted_run_or_a_plain_sync_says_nothing_more(db_url: str, db: Session) -> None:
    project_id = make_project(make_team())["id"]
    plain = run("sync", "--project", project_id, "--json")
    assert plain.exit_code == 0 and plain.stderr == "" and "warnings" not in json.loads(plain.stdout)

    unfinished = SyncRun(id=new_id("sync"), project_id=project_id, started_at=utcnow())
    db.add(unfinished)
    db.commit()
    resumed = run("sync", "--project", project_id, "--resume", "--json")
    assert resumed.exit_code == 0, resumed.output
    report = json.loads(resumed.stdout)
    assert (report["id"], report["resumed"]) == (unfinished.id, True)
    assert resumed.stderr == "" and "warnings" not in report
