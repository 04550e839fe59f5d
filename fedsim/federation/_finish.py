"""The end of every run (synchronous, asynchronous, any Flower app in the world grid): checks,
``summary.json``, the final model, and what is left to clean.

Order matters: a run in which every ClientApp failed raises before any summary (a summary would
look like a run that learned nothing); the model and task artifacts are written before
``summary.json``, whose presence marks a complete run; the checkpoint goes last.
"""

from __future__ import annotations

import io
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from .._atomic import atomic_write_bytes
from ..errors import ClientAppError, ModelDivergedError
from ..ledger import Ledger
from ..world import CLIENT_ERROR
from ._checkpoint import CHECKPOINT_FILE


def drop_counts(rows: list[dict]) -> dict[str, int]:
    """How many uploads each drop reason cost, by reason."""
    return dict(sorted(Counter(r["drop_reason"] for r in rows if r["drop_reason"]).items()))


def finish_run(
    ledger: Ledger,
    target_accuracy: float,
    fields: dict[str, Any],
    *,
    output_dir: Path | None,
    task: Any = None,
    final_arrays: Any = None,
    first_client_error: str | None = None,
    diverged_round: int | None = None,
    diverged_hint: str = "",
    what: str = "rounds",
    tracker: Any = None,
) -> dict[str, Any]:
    """Write the run's summary (and with ``task`` and ``final_arrays``, ``model.pt`` and the
    task's artifacts); return the summary. Raises ``ClientAppError`` when nothing was learned
    because every ClientApp failed, and ``ModelDivergedError`` (after writing the summary) when
    the global model became non-finite in ``diverged_round``. ``tracker`` (an experiment
    tracker) gets the summary and the run's files last."""
    rows = ledger.devices
    delivered = any(r["delivered"] for r in rows)
    if first_client_error is not None and not delivered and all(r["drop_reason"] == CLIENT_ERROR for r in rows):
        raise ClientAppError(f"every ClientApp failed, no update was aggregated; the first error: {first_client_error}")
    if rows and not delivered:  # summary.json's delivered_updates is 0
        # Physics starved the run (every upload late, lost or dropped): it finishes, loudly.
        # The last round's number: rounds 0..R under fedsim run; a Flower app's server rounds
        # (two rows each, train and evaluate) under run-app.
        rounds = max((r["round"] for r in ledger.rounds), default=0)
        print(f"fedsim: warning: no update was delivered in {rounds} {what} (drops: {drop_counts(rows)}); "
              "the global model is the initial one", file=sys.stderr)
    stopped = {} if diverged_round is None else {"stopped": "model_diverged", "stopped_round": diverged_round}
    summary = ledger.summary(target_accuracy, {**fields, **stopped})
    if output_dir is not None and task is not None and final_arrays is not None and diverged_round is None:
        import torch  # a non-finite model is no artifact

        buffer = io.BytesIO()
        torch.save(final_arrays.to_torch_state_dict(), buffer)
        atomic_write_bytes(Path(output_dir) / "model.pt", buffer.getvalue())
        summary["artifacts"] = task.write_artifacts(final_arrays, output_dir)
    ledger.write_summary(summary)  # last: its presence marks a complete run
    if tracker is not None:  # after the files it uploads exist
        tracker.finish(summary, diverged_round is not None)
    if output_dir is not None:
        (Path(output_dir) / CHECKPOINT_FILE).unlink(missing_ok=True)  # a finished run resumes nothing
    if diverged_round is not None:
        raise ModelDivergedError(
            f"the global model became non-finite (NaN/inf) in round {diverged_round}; the run stopped there"
            f"{diverged_hint}; ledger and summary.json record it"
        )
    return summary
