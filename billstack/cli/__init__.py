"""`billstack`: the operator command (console script and `python -m billstack`).

Layout: `root` is the top-level group; one module per command group adds its commands
to it (teams, projects, apikeys, customers, sessions, sync, webhooks, database, build, serve,
and the development commands `emulator`/`demo` in `dev`). `output` prints results and
clean failures, `failures` turns known exceptions into them, `shapes` builds the JSON,
`work` runs a command's database work.

Adding a command: one `@main.group()` per noun, one `@<noun>.command()` per verb,
decorated with `@json_option`; do the work inside `with unit_of_work() as db:` (one
transaction, schema checked), build the JSON dict there, then `emit(data, human)`.
Raise `BillStackError` for bad input: the group turns it into `error: …` and exit 1.
"""

from billstack.cli import (  # noqa: F401 - importing a command module registers its commands
    apikeys,
    audit,
    build,
    customers,
    database,
    dev,
    projects,
    serve,
    sessions,
    sync,
    teams,
    webhooks,
)
from billstack.cli.root import main, run

__all__ = ["main", "run"]
