"""Browser-side steps the server asks for, without `rx.call_script`.

Reflex runs a `call_script` sent by the server with `eval`, which the page's
Content-Security-Policy forbids (no 'unsafe-eval': api_routes/csp.py). So the state only
names the step in `client_command` ("<n>:focus:<element id>", "<n>:drop-query"; `n` makes
a repeated step a change), and components/client_commands.py, compiled into the bundle,
performs it when the value changes. A state mixin of `PortalState`, like state/plans.py.
"""

from __future__ import annotations

import reflex as rx

FOCUS = "focus"
DROP_QUERY = "drop-query"


class ClientCommandMixin(rx.State, mixin=True):
    client_command: str = ""
    _client_command_count: int = 0

    def _send_client_command(self, *parts: str) -> None:
        self._client_command_count += 1
        self.client_command = ":".join((str(self._client_command_count), *parts))

    def _focus_when_shown(self, element_id: str) -> None:
        """Focus an element that this state change brings back or enables: it renders a
        frame or so after the change arrives, when `rx.set_focus` would find nothing."""
        self._send_client_command(FOCUS, element_id)

    def _drop_query(self) -> None:
        """Drop the URL's query (`?setup=…`), so a reload doesn't repeat what it announced."""
        self._send_client_command(DROP_QUERY)
