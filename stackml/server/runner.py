"""Running the server with uvicorn (what ``stackml server`` calls)."""

from __future__ import annotations

import logging

from stackml.store import open_store

_ACCESS_LOGGER = "uvicorn.access"


class RedactQueryStrings(logging.Filter):
    """Drop query strings from access-log lines so nothing secret in a URL is ever logged.

    Uvicorn logs ``(client, method, path_with_query, http_version, status)``; tokens travel in
    the ``Authorization`` header, which is never logged, and this keeps a token pasted into a
    URL out of the log too.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            path = args[2].split("?", 1)[0]
            record.args = (*args[:2], path, *args[3:])
        return True


def install_log_redaction() -> None:
    """Attach :class:`RedactQueryStrings` to uvicorn's access logger (idempotent)."""
    access = logging.getLogger(_ACCESS_LOGGER)
    if not any(isinstance(f, RedactQueryStrings) for f in access.filters):
        access.addFilter(RedactQueryStrings())


def serve(
    host: str = "127.0.0.1",
    port: int = 5000,
    backend_store: str | None = None,
    artifacts: str | None = None,
    auth: bool = False,
    log_level: str = "info",
) -> None:
    """Serve a store over HTTP until interrupted.

    Args:
        host: interface to bind; loopback by default, so nothing is exposed by accident.
        port: TCP port.
        backend_store: metadata location (database URL or folder); default the nearest
            ``.stackml`` store, as for the SDK.
        artifacts: blob location (folder or fsspec URL); default beside the metadata.
        auth: require a bearer token on every route except ``/health``.
        log_level: uvicorn log level.
    """
    import uvicorn

    from stackml.config import get_settings
    from stackml.server.app import create_app
    from stackml.server.security import allowed_host_names

    store = open_store(backend_store, artifacts)
    try:
        hosts = allowed_host_names(host, get_settings().allowed_hosts)
        app = create_app(store, auth=auth, allowed_hosts=hosts)
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level=log_level,
            proxy_headers=False,
            server_header=False,
        )
        server = uvicorn.Server(config)
        # uvicorn configures logging when the config is built; filter after that.
        install_log_redaction()
        server.run()
    finally:
        store.close()
