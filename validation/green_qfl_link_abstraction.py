"""How much of Green-QFL's (P2's) energy saving survives a real link abstraction (fedsim issue 31).

P2 prices every uplink bit at Shannon capacity. This runs the same study (``scenario=
kim2023_green_qfl``: the bound, the uplink Monte Carlo, the integer NBI front and its Nash
bargaining pick) under ``radio.rate_model`` = shannon, nr and lte. For each, it prints the uplink
energy per bit of precision, the NBS operating point, its energy until convergence, the energy of
full precision at the same I and K, and the saving, and it ends with one JSON line.

    python validation/green_qfl_link_abstraction.py [--models shannon,nr,lte]

Nothing here is tuned: the rate models are fedsim's defaults (BLER target 0.1, 4 HARQ
transmissions, the specs' overheads, NR 64QAM table, LTE PUSCH table).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import fedsim  # noqa: E402
from fedsim.controller import qfl_model, study  # noqa: E402
from fedsim.reproduce._green_qfl import _saving  # noqa: E402
from fedsim.world import RATE_MODELS  # noqa: E402


def nbs_saving(rate_model: str) -> dict:
    """P2's study under ``radio.rate_model``: the NBS point and its saving over full precision."""
    started = time.perf_counter()
    config = fedsim.compose(["scenario=kim2023_green_qfl", f"radio.rate_model={rate_model}"])
    model = qfl_model(config)
    choice = study(config, model)
    saving, full_precision_j = _saving(choice, "nbs")
    nbs = choice.choices["nbs"]
    return {
        "uplink_j_per_precision_bit": model.uplink_energy_per_precision_bit_j,
        "nbs": {key: nbs[key] for key in ("I", "K", "m", "n", "energy_j", "rounds")},
        "full_precision_energy_j": full_precision_j,
        "saving": saving,
        "seconds": round(time.perf_counter() - started, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(RATE_MODELS), help="comma-separated radio.rate_model values")
    args = parser.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in RATE_MODELS]
    if unknown:
        parser.error(f"--models={','.join(unknown)} is not allowed: one of {', '.join(RATE_MODELS)}")
    results = {model: nbs_saving(model) for model in models}
    print(f"{'rate model':<10} {'uplink J/bit':>12} {'NBS (I, K, m, n)':>18} {'NBS J':>8} {'rounds':>7} {'full-precision J':>16} {'saving':>7}")
    for model, r in results.items():
        p = r["nbs"]
        print(f"{model:<10} {r['uplink_j_per_precision_bit']:>12.4g} {str((p['I'], p['K'], p['m'], p['n'])):>18} {p['energy_j']:>8.3g} "
              f"{p['rounds']:>7.0f} {r['full_precision_energy_j']:>16.3g} {r['saving']:>7.1%}")
    print(json.dumps({"benchmark": "green_qfl_link_abstraction", "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
