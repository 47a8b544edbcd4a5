"""The ASGI application uvicorn imports (``stemdm.web.main:app``): the store from ``STEMDM_DB``, secure
cookies when ``STEMDM_SECURE_COOKIES`` is 1 (``stemdm serve`` sets both)."""

from __future__ import annotations

import os

from stemdm.web.app import Settings, create_app

app = create_app(Settings(os.environ.get("STEMDM_DB"), None, os.environ.get("STEMDM_SECURE_COOKIES") == "1"))
