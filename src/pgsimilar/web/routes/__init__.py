"""The web UI's routers, one per page group."""
