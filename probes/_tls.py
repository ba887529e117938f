"""One TLS context for every HTTP client callprobe and its mocks open.

``httpx.AsyncClient()`` builds a new ``ssl.SSLContext`` and loads the CA
bundle every time: about 20 ms of CPU, more than a whole probe's HTTP
exchanges on loopback. The probes, the reference gateway and its alert
posting open clients per run, so they share this one instead. It is built
as httpx would build it (certifi's bundle, ``SSL_CERT_FILE``/``SSL_CERT_DIR``
honoured), once, on first use; an ``SSLContext`` is safe to share between
threads.
"""

from __future__ import annotations

import functools
import ssl

import httpx

__all__ = ["tls_context"]


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The shared client context (verification on, as httpx's default)."""
    return httpx.create_ssl_context()
