"""A tiny app used only by tests: it shows how an app plugs into the core."""
