"""The OpenAPI pages (/schema, /schema/swagger, /schema/redoc) render on a closed network: they
reference only files the app serves itself (vendored Swagger UI and ReDoc), and those answer."""

from __future__ import annotations

import re

from tests.api_fixtures import Api


async def test_the_schema_pages_load_only_local_files_and_they_are_served(api: Api) -> None:
    async with api.client() as c:
        for page in ("/schema", "/schema/swagger", "/schema/redoc"):
            r = await c.get(page)
            assert r.status_code == 200, (page, r.status_code)
            html = r.text
            assert "cdn" not in html.lower() and "googleapis" not in html, html[:2000]
            urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
            assert urls, html[:2000]
            for url in urls:
                assert url.startswith("/schema/assets/"), (page, url)
                asset = await c.get(url)
                assert asset.status_code == 200 and len(asset.content) > 1000, (url, asset.status_code)
        assert (await c.get("/schema/openapi.json")).status_code == 200
