import os
import sys
from pathlib import Path

# tests import helpers from tests/support.py
sys.path.insert(0, str(Path(__file__).resolve().parent))

# `tickcast serve` records every match to ./tickcast-data by default: servers that
# tests start as subprocesses inherit this and record nothing, unless a test asks
# for it (`--record --data-dir <tmp_path>`, as the tests of tickcast.store do).
os.environ["TICKCAST_RECORD"] = "0"
