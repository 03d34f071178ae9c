"""HTTP: routers, dependencies, rate limiting, error answers."""
