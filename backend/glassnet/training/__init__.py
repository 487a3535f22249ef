"""Training: the synchronous loop (trainer.py) and what it reports. Knows nothing of HTTP."""
