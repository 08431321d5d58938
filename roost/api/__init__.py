"""HTTP handlers: thin functions that parse a request, call a service and render the result.

``load_routes()`` imports every API module so that their ``@route`` declarations are registered.
"""

# The hot routes first: Starlette tries routes in order, so endpoints, the Events API and the Query
# API are matched before the management routes.
API_MODULES = (
    "roost.api.pipes",
    "roost.api.events",
    "roost.api.query",
    "roost.api.workspace",
    "roost.api.datasources",
    "roost.api.jobs",
    "roost.api.tokens",
    "roost.ui.routes",
)


def load_routes() -> None:
    import importlib
    import logging

    for mod in API_MODULES:
        try:
            importlib.import_module(mod)
        except ImportError as e:  # pragma: no cover - modules still being written
            if mod == "roost.ui.routes" and e.name == mod:
                continue
            logging.getLogger("roost.app").warning("routes of %s disabled: %s", mod, e)
