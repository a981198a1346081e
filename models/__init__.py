"""Shipped model files (data only): ONNX models, their .sha256 and MODEL_CARD.md."""
