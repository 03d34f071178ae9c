"""Telemetry server: ingest API, storage, event bus and live dashboard."""
