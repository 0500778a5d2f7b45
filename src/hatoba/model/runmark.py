"""How hatoba's CLI marks the create of a `run`, so that a crash before its start leaves nothing.

A query argument of POST /containers/create: the engine keeps the mark on the container
(`Container.run_pending`) until its start succeeds, and reconcile removes containers still
marked. A module of its own because the CLI imports it, and start-up time counts there.
"""

RUN_PENDING = "hatoba-run"
