import numpy as np
import pytest

from fedsim.world import db_to_linear, dbm_to_w, w_to_dbm


def test_dbm_watts_round_trip():
    assert dbm_to_w(30.0) == pytest.approx(1.0)
    assert dbm_to_w(20.0) == pytest.approx(0.1)
    assert w_to_dbm(0.1) == pytest.approx(20.0)
    powers = np.array([1e-3, 0.1, 2.0])
    np.testing.assert_allclose(dbm_to_w(w_to_dbm(powers)), powers)


def test_noise_psd_minus_174_dbm_hz():
    # -174 dBm/Hz is the thermal noise the papers round to 4e-21 W/Hz.
    assert dbm_to_w(-174.0) == pytest.approx(3.98e-21, rel=1e-3)


def test_db_to_linear():
    linear = db_to_linear([0.0, 3.0, 10.0, -10.0])
    np.testing.assert_allclose(linear, [1.0, 1.9953, 10.0, 0.1], rtol=1e-4)
