import numpy as np

from fedsim.world import distances_to_bs, place_uniform_square


def test_uniform_square_shape_and_bounds():
    pos = place_uniform_square(1000, 500.0, np.random.default_rng(1))
    assert pos.shape == (1000, 2)
    assert pos.min() >= 0.0 and pos.max() <= 500.0
    # Uniform: the mean sits near the centre.
    np.testing.assert_allclose(pos.mean(axis=0), [250.0, 250.0], atol=15.0)


def test_distances_default_corner_and_custom_bs():
    pos = np.array([[3.0, 4.0], [0.0, 0.0], [500.0, 500.0]])
    np.testing.assert_allclose(distances_to_bs(pos), [5.0, 0.0, 500.0 * np.sqrt(2)])
    np.testing.assert_allclose(distances_to_bs(pos, (3.0, 0.0)), [4.0, 3.0, np.hypot(497.0, 500.0)])
