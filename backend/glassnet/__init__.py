"""glassnet: a neural network you can see through.

Packages, in the one direction the imports go:
``nn`` (pure NumPy network library) <- ``data`` (MNIST, digit preparation)
<- ``training`` (synchronous trainer) <- ``service`` (FastAPI, worker, WebSockets) <- ``cli``.
"""

__version__ = "0.1.0"
