"""fedsim reproduce kasgari2021_urllc: experienced deep RL for URLLC, reconstructed (slow)."""

from __future__ import annotations

import pytest
from run_helpers import reproduced_report


@pytest.mark.slow
def test_urllc_report_experienced_agent_removes_the_transient(tmp_path):
    payload = reproduced_report(["scenario=kasgari2021_urllc"], tmp_path, ("urllc_timeline.png", "operating_points.png", "gan_conditions.png"))
    assert payload["headline"]["paper"] is None and payload["headline"]["measured"] > 0
    transient = payload["data"]["transient_slots"]
    assert transient["experienced"] < transient["conventional"]
    assert payload["data"]["power_ratio_to_oracle"] <= 2.5
