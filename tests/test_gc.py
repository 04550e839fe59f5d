"""The collector around a run (fedsim._gc): the rounds run with the start-up's heap frozen and the
collector on, and everything is as it was afterwards."""

from __future__ import annotations

import gc

import pytest
from run_helpers import tiny_overrides

import fedsim
from fedsim._gc import collector_paused, frozen_heap


@pytest.fixture(autouse=True)
def _collector_restored():
    enabled = gc.isenabled()
    yield
    assert gc.get_freeze_count() == 0
    gc.enable() if enabled else gc.disable()


def test_an_inner_frozen_heap_leaves_the_outer_freeze_and_the_outermost_unfreezes():
    gc.disable()
    held = [object() for _ in range(10)]
    with frozen_heap():
        outer = gc.get_freeze_count()
        assert outer >= len(held) and gc.isenabled()
        with frozen_heap():
            assert gc.get_freeze_count() == outer  # not frozen again
        assert gc.get_freeze_count() == outer and gc.isenabled()
    assert gc.get_freeze_count() == 0
    assert not gc.isenabled()  # as it was


def test_a_failure_inside_still_unfreezes_and_restores_the_collector():
    gc.enable()
    with pytest.raises(RuntimeError, match="boom"), frozen_heap():
        raise RuntimeError("boom")
    assert gc.get_freeze_count() == 0 and gc.isenabled()


def test_collector_paused_restores_what_it_found():
    gc.enable()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    with collector_paused():
        pass
    assert not gc.isenabled()


def test_a_run_paused_at_start_up_collects_during_its_rounds_over_a_frozen_heap(tmp_path, monkeypatch):
    from fedsim.federation import _wireless

    seen = []
    configure = _wireless.WirelessStrategy.configure_train

    def watched(self, *args, **kwargs):
        seen.append((gc.isenabled(), gc.get_freeze_count()))
        return configure(self, *args, **kwargs)

    monkeypatch.setattr(_wireless.WirelessStrategy, "configure_train", watched)
    with collector_paused():  # as `fedsim run` starts
        fedsim.run(tiny_overrides(), tmp_path / "run")
        # The pause ended with the first rounds: a sweep's next job starts with the collector
        # on, so the cycles this one made before its freeze are collected, not frozen again.
        assert gc.isenabled() and gc.get_freeze_count() == 0
        fedsim.run(tiny_overrides(rounds=1), tmp_path / "second")
    assert len(seen) == 3
    assert all(enabled and frozen > 10_000 for enabled, frozen in seen)  # torch's and Flower's objects among them


def test_garbage_cycles_made_before_a_run_are_collected_after_it(tmp_path):
    import weakref

    class Node:
        pass

    with collector_paused():
        cycle = Node()
        cycle.me = cycle
        alive = weakref.ref(cycle)
        del cycle  # garbage, but only the collector frees a cycle
        fedsim.run(tiny_overrides(rounds=1), tmp_path / "run")  # frozen during the rounds
        gc.collect()
        assert alive() is None  # unfrozen after the run, and collected: not kept for good


def test_the_cli_gives_the_collector_back_after_a_run(tmp_path):
    from fedsim.cli import main

    gc.enable()
    assert main(["run", "rounds=1", "world.num_devices=4", "op.devices_per_round=2", f"hydra.run.dir={tmp_path / 'run'}"]) == 0
    assert gc.isenabled() and gc.get_freeze_count() == 0
