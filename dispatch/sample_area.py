"""Where the sample area's files live: ``examples/anyang`` in the source tree.

One definition for the commands, the settings' defaults, the demo, the harness and the benchmarks.
"""

from __future__ import annotations

from pathlib import Path

SAMPLE_DIR = Path(__file__).resolve().parents[1] / "examples" / "anyang"
# The synthetic DEM of the Taihang foothills west of the city (examples/terrain/make_dem.py).
SAMPLE_TERRAIN = SAMPLE_DIR.parent / "terrain" / "taihang.tif"
