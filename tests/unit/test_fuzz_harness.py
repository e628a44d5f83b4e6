"""The atheris harness (fuzz/fuzz_session.py) runs without atheris on its seeds and
on random inputs, so it cannot rot between long fuzzing runs."""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

HARNESS = Path(__file__).resolve().parents[2] / "fuzz" / "fuzz_session.py"


def load_harness():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("fuzz_session", HARNESS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_harness_runs_its_seeds_and_random_inputs() -> None:
    harness = load_harness()
    seeds = harness.seed_inputs()
    corpus = {p.name: p.read_bytes() for p in (HARNESS.parent / "corpus").iterdir()}
    assert corpus == seeds  # the committed corpus is what --seed-corpus writes
    rng = random.Random(7)
    inputs = list(seeds.values())
    for _ in range(300):
        base = bytearray(rng.choice(inputs))
        for _ in range(rng.randrange(1, 8)):  # a few byte flips, like a mutating fuzzer
            base[rng.randrange(len(base))] = rng.randrange(256)
        inputs.append(bytes(base))
    inputs += [rng.randbytes(rng.randrange(0, 300)) for _ in range(100)]
    for data in inputs:
        harness.test_one_input(data)  # raises on a broken invariant
