"""edgehar: train, convert, quantize and run a HAR ResNeXt on edge devices."""

__version__ = "0.1.0"
