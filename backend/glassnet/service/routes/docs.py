"""``/docs``: the OpenAPI explorer (Swagger UI), served from a Python package's copy of its
assets (``fastapi-offline``), so it works offline and under the app's CSP (no inline script:
the page loads ``/docs/init.js``)."""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

router = APIRouter(include_in_schema=False)

ASSETS = str(files("fastapi_offline") / "static")

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>glassnet API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
<link rel="icon" href="/docs/assets/favicon.png"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body></html>"""

INIT = """window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
"""


@router.get("/docs")
async def swagger_ui() -> HTMLResponse:
    return HTMLResponse(PAGE)


@router.get("/docs/init.js")
async def swagger_init() -> Response:
    return Response(INIT, media_type="text/javascript")
