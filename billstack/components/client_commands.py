"""Performs state/client_commands.py's steps in the browser: compiled into the bundle (so
the page's Content-Security-Policy allows it, unlike an eval'd `rx.call_script`)."""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex_base.utils.imports import ImportDict, ImportVar

from billstack.state.client_commands import DROP_QUERY, FOCUS

# `command` is "<n>:<step>[:<argument>]"; the focus retries for up to 60 frames, until the
# element is rendered and enabled.
_EFFECT = """useEffect(() => {
  const command = %(command)s;
  if (!command) { return; }
  const [, step, ...rest] = command.split(":");
  const argument = rest.join(":");
  if (step === %(drop_query)s) {
    window.history.replaceState(null, "", window.location.pathname);
  } else if (step === %(focus)s) {
    (function focus(frames) {
      const el = document.getElementById(argument);
      if (el && !el.disabled) { el.focus(); }
      else if (frames > 0) { requestAnimationFrame(() => focus(frames - 1)); }
    })(60);
  }
}, [%(command)s]);"""


class ClientCommands(rx.Fragment):
    """Renders nothing; performs `command` whenever it changes."""

    command: rx.Var[str]

    def _exclude_props(self) -> list[str]:
        return [*super()._exclude_props(), "command"]

    def add_imports(self) -> ImportDict:
        return {"react": [ImportVar(tag="useEffect")]}

    def add_hooks(self) -> list[str | rx.Var[Any]]:
        command = self.command
        code = _EFFECT % {"command": str(command), "drop_query": f'"{DROP_QUERY}"', "focus": f'"{FOCUS}"'}
        return [rx.Var(code, _var_data=command._get_all_var_data())]


client_commands = ClientCommands.create
