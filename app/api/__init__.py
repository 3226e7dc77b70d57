"""Hush's own REST API, websocket/SSE streams and health checks."""
