"""Files shipped inside the package: the pretrained bundle and a short sample recording."""

from pathlib import Path

ASSETS = Path(__file__).resolve().parent.parent / "assets"
PRETRAINED = ASSETS / "pretrained"
SAMPLE_LOG = ASSETS / "sample_user02.csv"   # test subject 2, all six activities, 50 Hz CSV
