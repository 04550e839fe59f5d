import numpy as np
import pytest

from fedsim.errors import ConfigError
from fedsim.world import QnnEnergyModel, Workload

WORKLOAD = Workload.green_qfl_paper()
MODEL = QnnEnergyModel()


def test_paper_workload():
    assert (WORKLOAD.params, WORKLOAD.macs, WORKLOAD.activations, WORKLOAD.input_size) == (
        411_598,
        4.05e7,
        4_990,
        784,
    )


def test_mac_energy_full_precision():
    assert MODEL.mac_energy(32) == pytest.approx(3.7e-12, rel=1e-12)
    assert MODEL.mac_energy(16) == pytest.approx(3.7e-12 * 0.5**1.25)


def test_reference_numbers_green_qfl():
    # shared/reference/green_qfl.md: E_back ≈ 3.75e-4 J/sample, E_train(32) ≈ 0.0193 J,
    # E_train(16) ≈ 0.0148 J per local iteration.
    assert MODEL.backward_energy(WORKLOAD) == pytest.approx(3.75e-4, rel=0.01)
    assert MODEL.train_iteration_energy(32, WORKLOAD) == pytest.approx(0.0193, rel=0.01)
    assert MODEL.train_iteration_energy(16, WORKLOAD) == pytest.approx(0.0148, rel=0.01)


def test_dram_spill_is_zero_up_to_32_bits():
    # With S_SRAM = 16 Mbit the weights and activations fit on chip at every precision, so the
    # DRAM term is only the input read: an SRAM big enough for anything changes nothing.
    bits = np.arange(1, 33)
    huge_sram = QnnEnergyModel(sram_bits=1e12)
    np.testing.assert_array_equal(
        MODEL.inference_energy(bits, WORKLOAD), huge_sram.inference_energy(bits, WORKLOAD)
    )
    # The backward spill (32·d + 64·O_c bits) is also below S_SRAM.
    assert MODEL.backward_energy(WORKLOAD) == huge_sram.backward_energy(WORKLOAD)
    # ...while a tiny SRAM makes the spill term appear.
    tiny_sram = QnnEnergyModel(sram_bits=1.0)
    assert tiny_sram.inference_energy(32, WORKLOAD) > MODEL.inference_energy(32, WORKLOAD)
    assert tiny_sram.backward_energy(WORKLOAD) > MODEL.backward_energy(WORKLOAD)


def test_energy_increases_with_precision():
    energy = MODEL.train_iteration_energy(np.arange(1, 33), WORKLOAD)
    assert energy.shape == (32,)
    assert np.all(np.diff(energy) > 0)


def test_vectorised_matches_scalar():
    bits = np.array([4, 8, 32])
    vector = MODEL.train_iteration_energy(bits, WORKLOAD)
    for b, e in zip(bits, vector):
        assert MODEL.train_iteration_energy(int(b), WORKLOAD) == pytest.approx(e, rel=1e-15)


def test_train_iteration_is_batch_of_forward_plus_backward():
    e = MODEL.train_iteration_energy(8, WORKLOAD)
    expected = 32 * (MODEL.inference_energy(8, WORKLOAD) + MODEL.backward_energy(WORKLOAD))
    assert e == pytest.approx(expected, rel=1e-15)


@pytest.mark.parametrize("bad", [0, 33, 2.5, -1, np.array([8, 40]), "8", True])
def test_bits_out_of_range(bad):
    with pytest.raises(ConfigError, match="op.train_bits"):
        MODEL.train_iteration_energy(bad, WORKLOAD)


def test_energy_model_validation():
    with pytest.raises(ConfigError, match="energy.mac_energy_j"):
        QnnEnergyModel(mac_energy_j=-1.0)
    with pytest.raises(ConfigError, match="workload.params"):
        Workload(params=0, macs=1.0, activations=1, input_size=1)
