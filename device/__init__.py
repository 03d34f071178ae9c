"""The Raspberry Pi agent: read sensors through kernel drivers, spool, deliver to the server."""
