"""The browser dashboard: one static page served by the API itself."""

from forest.dashboard.router import mount_static, router

__all__ = ["mount_static", "router"]
