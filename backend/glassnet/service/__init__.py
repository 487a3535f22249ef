"""glassnet.service: the FastAPI app that trains networks in a background process and streams
what happens inside them over WebSockets. Start with :mod:`.app` (``create_app``)."""
