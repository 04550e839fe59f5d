"""``radio.path_loss=custom``: a path-loss model of the user's, named
``radio.path_loss_target=MODULE:FUNCTION``.

The function is vectorized numpy: ``FUNCTION(distance_m, carrier_hz, **extras)`` returns the path
loss in dB (positive = attenuation) of every link, an array of ``distance_m``'s shape.
``distance_m`` is the 3-D device-to-server distance (not clipped: a device can stand at 0 m) and
``carrier_hz`` the radio's carrier. It is also given, for those its signature names:

- ``rng``: a ``numpy.random.Generator``, the run's stream (seed, "custom-path-loss", round), for a
  model with random state (LoS draws, blockage); a model without ``rng`` is deterministic, so a
  static deployment prices its links once;
- ``horizontal_m`` / ``vertical_m``: the separations the distance is made of;
- ``h_bs_m`` / ``h_ut_m``: ``radio.bs_height_m`` and ``radio.device_height_m``;
- the keys of ``radio.path_loss_kwargs`` (the model's own parameters, so a sweep can vary them).

The World turns the loss into the linear gain 10^(-PL/10), exactly as it does for its own models,
then applies ``radio.shadowing_db``, the antennas and fading on top. The module is imported when
the configuration is validated (a typo stops the run before any work); every output is checked
(shape, real, finite, >= 0 dB) with a one-line ConfigError on ``radio.path_loss_target``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from fedsim._target import import_target, keyword_names, one_line
from fedsim.errors import ConfigError
from fedsim.world._pathloss import PathLossLinks, Streams, _gain

TARGET_FORM = "MODULE:FUNCTION naming a function (distance_m, carrier_hz) -> path loss in dB (e.g. my_channel:dual_slope_db)"
STREAM = "custom-path-loss"  # the rng's stream: (seed, STREAM, round)
# What the World gives a user's model by name, besides distance and carrier.
EXTRAS = ("rng", "horizontal_m", "vertical_m", "h_bs_m", "h_ut_m")


class UserPathLoss:
    """A user's path-loss function as the Channel's adapter ``(links, stream) -> linear gain``."""

    def __init__(self, target: str | None, kwargs: Mapping[str, Any] | None = None, *, prefix: str = "radio.") -> None:
        """``prefix``: where the keys sit (``radio.``; empty inside RadioConfig, which adds it)."""
        self.target = target
        self.key = key = f"{prefix}path_loss_target"
        self.function: Callable[..., Any] = import_target(key, target, TARGET_FORM)
        if not callable(self.function):
            raise ConfigError(key, target, f"a function (distance_m, carrier_hz) -> path loss in dB, not a {type(self.function).__name__}")
        self.kwargs = dict(kwargs or {})
        taken = sorted(set(self.kwargs) & set(EXTRAS))
        if taken:
            raise ConfigError(f"{prefix}path_loss_kwargs", self.kwargs,
                              f"the model's own parameters, not {', '.join(taken)} (the World passes those)")
        self.extras = tuple(name for name in EXTRAS if name in keyword_names(self.function))
        self._check_signature()

    @property
    def draws(self) -> bool:
        """Whether the model has random state (it takes ``rng``)."""
        return "rng" in self.extras

    def _check_signature(self) -> None:
        try:
            signature = inspect.signature(self.function)
        except (TypeError, ValueError):  # a builtin or ufunc: it will say so when called
            return
        try:
            signature.bind(None, None, **dict.fromkeys(self.extras), **self.kwargs)
        except TypeError as error:
            given = f" and radio.path_loss_kwargs={self.kwargs}" if self.kwargs else ""
            raise ConfigError(self.key, self.target, f"a function taking (distance_m, carrier_hz){given} ({one_line(error)})") from None

    def __call__(self, links: PathLossLinks, stream: Streams) -> np.ndarray:
        distance = np.asarray(links.distance_m, dtype=float)
        given = {
            "rng": stream(STREAM) if self.draws else None,
            "horizontal_m": links.horizontal_m,
            "vertical_m": links.vertical_m,
            "h_bs_m": links.h_bs_m,
            "h_ut_m": links.h_ut_m,
        }
        arguments = {name: given[name] for name in self.extras}
        try:
            loss = self.function(distance, links.carrier_hz, **arguments, **self.kwargs)
        except Exception as error:  # noqa: BLE001 - whatever the user's code raises, in one line
            raise ConfigError(self.key, self.target, f"a function that runs on the links' distances "
                                                     f"(it raised {type(error).__name__}: {one_line(error)})") from None
        return _gain(self._checked_loss_db(loss, distance))

    def _checked_loss_db(self, loss: Any, distance: np.ndarray) -> np.ndarray:
        """``loss`` as float dB, one finite value >= 0 per link, or a ConfigError saying what is wrong."""
        values = np.asarray(loss)
        if values.dtype.kind not in "iuf":
            raise ConfigError(self.key, self.target, f"a function returning real path losses in dB, not an array of dtype {values.dtype}")
        if values.shape != distance.shape:
            raise ConfigError(self.key, self.target, f"a function returning one path loss per link: an array of shape {distance.shape}, "
                                                     f"not {values.shape}")
        values = values.astype(float, copy=False)
        bad = np.flatnonzero(~np.isfinite(values) | (values < 0))
        if bad.size:
            i = bad[0]
            what = "finite path losses in dB" if not np.isfinite(values.flat[i]) else "path losses >= 0 dB (a loss below 0 dB is a gain above 1)"
            raise ConfigError(self.key, self.target, f"{what}: it returned {values.flat[i]:.4g} dB at {distance.flat[i]:.4g} m "
                                                     f"({bad.size} of {values.size} links)")
        return values
