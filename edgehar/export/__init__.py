"""torch -> ONNX / TFLite export, the accuracy-drop chain and model bundles."""
