"""Models and runs for other tools: ONNX models (``onnx.py``, extra ``glassnet[onnx]``) and
TensorBoard event files (``tensorboard.py``, extra ``glassnet[tensorboard]``). Each module imports
its optional package only when used, so the core stays NumPy and the web stack."""
