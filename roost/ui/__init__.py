"""The web UI of Roost: static single-page app and the routes that serve it."""
