"""The shared labeled corpora (grounding, actions), scored by their own scorers through the real CLI.

The corpora live beside the repository (../shared/eval/) on the team's machines, or wherever
REVIEW_GATE_EVAL_DIR points (the folder holding grounding/ and actions/); a clone without them skips
these tests and says why.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EVAL = Path(os.environ.get("REVIEW_GATE_EVAL_DIR", REPO.parent / "shared" / "eval"))
CORPUS = EVAL / "grounding"
ACTIONS = EVAL / "actions"


@pytest.mark.skipif(not (CORPUS / "score.py").exists(), reason=f"no grounding corpus at {CORPUS}")
def test_shared_corpus_recall_and_precision_at_least_098() -> None:
    cli = f"{sys.executable} -m prefect_review_gate.gates.cli"
    command = f"{cli} validate {{draft}} --sources {{sources}} --json"
    gate = ["--min-recall", "0.98", "--min-precision", "0.98"]
    result = subprocess.run(
        [sys.executable, str(CORPUS / "score.py"), str(CORPUS), *gate, "--", command],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "false positives on clean cases: 0" in result.stdout


@pytest.mark.skipif(not (ACTIONS / "score.py").exists(), reason=f"no actions corpus at {ACTIONS}")
def test_shared_actions_corpus_recall_and_precision_at_least_095() -> None:
    cli = f"{sys.executable} -m prefect_review_gate.gates.cli"
    command = f"{cli} validate-actions {{proposal}} --world {{world}} --json"
    result = subprocess.run(
        [sys.executable, str(ACTIONS / "score.py"), str(ACTIONS), "--", command],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "false positives on clean cases: 0" in result.stdout
