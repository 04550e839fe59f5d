"""fedsim reproduce chen2020_drone_handover: learned handover for cellular drones, reconstructed (slow)."""

from __future__ import annotations

import pytest
from run_helpers import reproduced_report


@pytest.mark.slow
def test_handover_report_meets_the_acceptance_points(tmp_path):
    payload = reproduced_report(["scenario=chen2020_drone_handover"], tmp_path,
                                ("rsrp_cdf.png", "sinr_cdf.png", "handovers_vs_weight.png", "serving_map.png"))
    assert payload["headline"]["paper"] == 0.80
    assert payload["headline"]["measured"] >= 0.5  # at the documented weight 1/9 ...
    chosen = next(r for r in payload["data"]["table"] if r["rule"] == "q_learning" and r["ratio"] == payload["data"]["chosen_ratio"])
    assert chosen["rsrp_loss_db"] <= 3.0  # ... for at most 3 dB of mean RSRP
    zero = {r["rule"]: r for r in payload["data"]["table"] if r["ratio"] == 0.0}
    assert zero["q_learning"]["handovers_per_km"] == zero["strongest"]["handovers_per_km"]
    fl = payload["data"]["drone_fl"]
    assert fl["strongest"]["lost_to_handover"] > 0 and set(fl) == {"strongest", "q_learning"}
