"""Domain logic. Routes, Reflex state and the CLI call these; nothing here knows HTTP."""
