"""The files the app serves from disk: the dashboard and the API documentation viewers.

* :func:`dashboard_router`: ``/dashboard`` over a directory (``index.html`` at ``/dashboard/``).
* :func:`docs_assets_router` and :func:`docs_render_plugins`: ``/schema/swagger`` and
  ``/schema/redoc`` (``/schema`` itself is ReDoc) load Swagger UI and ReDoc from
  ``/schema/assets/...``, files shipped in the package (``docs_ui/``, see its README), so they
  render on a network without access to a CDN.

A path that names no file is a 404 whatever it holds: a NUL byte or a name too long for the
file system are refused as absent (:class:`StrictFileSystem`), never a 500.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import Router
from litestar.file_system import BaseLocalFileSystem
from litestar.openapi.plugins import (
    JsonRenderPlugin,
    OpenAPIRenderPlugin,
    RedocRenderPlugin,
    SwaggerRenderPlugin,
    YamlRenderPlugin,
)
from litestar.static_files import create_static_files_router
from litestar.types import PathType

DOCS_UI_DIR: Path = Path(__file__).resolve().parent / "docs_ui"
"""The vendored viewers: ``swagger-ui/`` and ``redoc/``."""

DOCS_ASSETS_PATH = "/schema/assets"
SWAGGER_UI_VERSION = "5.35.0"  # of the files in docs_ui/swagger-ui (npm swagger-ui-dist)
REDOC_VERSION = "2.5.4"  # of docs_ui/redoc/redoc.standalone.js (npm redoc)


class StrictFileSystem(BaseLocalFileSystem):
    """The local file system, where a path the OS cannot even look up is simply not there.

    Litestar's static files turn only ``FileNotFoundError`` into a 404; a NUL byte (``ValueError``)
    or a name longer than the file system allows (``OSError``) would be a 500.
    """

    async def info(self, path: PathType, **kwargs: Any) -> Any:
        """The file's information; :class:`FileNotFoundError` for a path that cannot name a file."""
        if "\x00" in str(path):
            raise FileNotFoundError(f"no file {str(path)!r}")
        try:
            return await super().info(path, **kwargs)
        except (FileNotFoundError, PermissionError):
            raise
        except (OSError, ValueError) as exc:
            raise FileNotFoundError(f"no file {str(path)!r}") from exc


def dashboard_router(directory: Path) -> Router:
    """``/dashboard``: the static files of ``directory`` (``index.html`` for the directory)."""
    return create_static_files_router(
        path="/dashboard", directories=[directory], html_mode=True, file_system=StrictFileSystem()
    )


def docs_assets_router() -> Router:
    """``/schema/assets``: the vendored Swagger UI and ReDoc files."""
    return create_static_files_router(
        path=DOCS_ASSETS_PATH, directories=[DOCS_UI_DIR], name="docs-assets", file_system=StrictFileSystem()
    )


def docs_render_plugins() -> list[OpenAPIRenderPlugin]:
    """The schema's pages, loading only local files: ReDoc (also at ``/schema``), Swagger UI, JSON, YAML."""
    swagger = f"{DOCS_ASSETS_PATH}/swagger-ui"
    return [
        RedocRenderPlugin(
            path=["/", "/redoc"],
            js_url=f"{DOCS_ASSETS_PATH}/redoc/redoc.standalone.js",
            google_fonts=False,
            favicon="",
        ),
        SwaggerRenderPlugin(
            js_url=f"{swagger}/swagger-ui-bundle.js",
            css_url=f"{swagger}/swagger-ui.css",
            standalone_preset_js_url=f"{swagger}/swagger-ui-standalone-preset.js",
            favicon="",
        ),
        JsonRenderPlugin(),
        YamlRenderPlugin(path=["/openapi.yaml", "/openapi.yml"]),
    ]
