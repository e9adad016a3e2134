"""Calibration and INT8 quantization for ONNX Runtime and LiteRT."""

