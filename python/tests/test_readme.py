"""The scripts of python/README.md run as shown."""

import difflib
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

import quarry

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def _blocks(text):
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_quick_start_script_runs_as_shown(tmp_path):
    text = README.read_text()
    section = text.split("## Quick start", 1)[1]
    script = _blocks(section)[0]
    lines = [l for l in script.splitlines() if l.strip()]
    assert len(lines) <= 10, len(lines)
    p = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                       text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    out = p.stdout.splitlines()
    recall = float(out[0].split(":")[1])
    assert 0.85 <= recall < 1.0, out
    assert out[1] == "self-hits: 1.0 deleted returned: 0", out
    assert (tmp_path / "sift.quarry" / "manifest.json").exists()


def test_faiss_port_changes_only_construction_and_search(tmp_path):
    text = README.read_text()
    section = text.split("## From FAISS IVF-Flat", 1)[1]
    faiss_src, quarry_src = _blocks(section)[:2]
    f = [l for l in faiss_src.splitlines() if l.strip()]
    q = [l for l in quarry_src.splitlines() if l.strip()]
    changed = [l[2:] for l in difflib.ndiff(f, q) if l[:2] in ("- ", "+ ")]
    allowed = ("import faiss", "import quarry", "quantizer =", "index = faiss.",
               "index = quarry.", "index.train(", "index.add(", "index.nprobe",
               "D, I = index.search(")
    assert changed and all(l.startswith(allowed) for l in changed), changed
    # The Quarry version runs (SIFT10K as its .npy files) and finds what it should.
    xb, xq, gt = quarry.sift10k()
    np.save(tmp_path / "base.npy", xb)
    np.save(tmp_path / "queries.npy", xq)
    np.save(tmp_path / "gt.npy", gt)
    script = quarry_src.replace("partitions=1024", "partitions=64")   # 10,000 vectors
    p = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                       text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    assert float(p.stdout.split()[-1]) > 0.9
