"""HTTP and WebSocket routes, one module per area (each exposes ``router``)."""
