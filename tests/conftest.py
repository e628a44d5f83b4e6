import sys
from pathlib import Path

# tests import helpers from tests/support.py
sys.path.insert(0, str(Path(__file__).resolve().parent))
