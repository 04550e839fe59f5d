"""A downlink URLLC cell: users with packet queues, slotted OFDMA, finite-blocklength links.

Each slot (``slot_s``): packets arrive per user (Poisson, bursty on/off, or a trace file of
(time_s, user) rows); packets older than the deadline D are dropped as late; the controller picks
how many bits to send to each user; the rates are mapped to resource blocks and power by the
exact least-power allocation (``_rb_mapping``); each packet sent is decoded with probability
1 - ε (the block error the finite-blocklength rate was computed for). A packet is *reliable* when
it is decoded within D of its arrival; reliability = reliable / resolved packets.

Channels: UMi street canyon (TR 38.901) with LoS per user, users uniform in a ring of radii
[min_distance_m, max_distance_m] around the base station, Rayleigh block fading per slot and user
(flat over the band). A *regime* changes the traffic and the channel at a slot: arrival rates
multiplied by ``surge_factor`` and every gain lowered by ``fade_db`` from ``regime_change_slot``
on. Every constant is an assumption (urllc.md); the paper's are not public.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fedsim._checks import check_choice, check_float, check_int, check_optional_str
from fedsim.errors import ConfigError
from fedsim.rng import numpy_stream
from fedsim.world._link import THERMAL_NOISE_PSD_W_HZ
from fedsim.world._pathloss import draw_los, umi_38901_db, umi_los_probability
from fedsim.world._rb_mapping import RbAllocation, allocate_blocks

ARRIVAL_PROCESSES = ("poisson", "on_off", "trace")


@dataclass(frozen=True)
class UrllcConfig:
    """The ``urllc`` section."""

    users: int = 8  # users with packet queues in the cell
    resource_blocks: int = 16  # resource blocks per slot (each user with data needs one)
    rb_hz: float = 180e3  # bandwidth of one resource block
    slot_s: float = 0.25e-3  # slot length: one scheduling decision
    max_power_w: float = 1.0  # the base station's transmit power budget per slot, over all blocks
    min_distance_m: float = 20.0  # inner radius of the ring the users are dropped in
    max_distance_m: float = 200.0  # outer radius of the users' ring
    carrier_hz: float = 3.5e9  # carrier of the UMi street-canyon path loss
    noise_figure_db: float = 7.0  # receiver noise figure
    packet_bits: int = 256  # 32-byte packets
    decoding_error: float = 1e-5  # ε of the finite-blocklength rate
    deadline_s: float = 1e-3  # D
    reliability_target: float = 0.999  # 1 - 1e-3: 1e-5 needs 1e5+ packets per point, too many for a CPU
    arrival: str = "poisson"  # packet arrivals: poisson (arrival_rate_per_s) | on_off (bursts) | trace (trace_path)
    arrival_rate_per_s: float = 400.0  # per user
    burst_rate_per_s: float = 2000.0  # on/off: the rate while on
    mean_on_s: float = 0.01  # on_off: mean length of an on (burst) period
    mean_off_s: float = 0.04  # on_off: mean length of an off period
    trace_path: str | None = None  # arrival=trace: CSV of time_s,user
    regime_change_slot: int | None = None  # from this slot, arrivals x surge_factor and every gain -fade_db (null: no change)
    surge_factor: float = 2.5  # arrival-rate multiplier after regime_change_slot
    fade_db: float = 6.0  # loss added to every channel gain after regime_change_slot

    def __post_init__(self) -> None:
        check_int("users", self.users, 1)
        check_int("resource_blocks", self.resource_blocks, 1)
        if self.users > self.resource_blocks:
            raise ConfigError("users", self.users, f"at most resource_blocks={self.resource_blocks} (each user with data needs a block)")
        check_float("rb_hz", self.rb_hz, low=0, low_open=True)
        check_float("slot_s", self.slot_s, low=0, low_open=True)
        check_float("max_power_w", self.max_power_w, low=0, low_open=True)
        check_float("min_distance_m", self.min_distance_m, low=10.0)
        check_float("max_distance_m", self.max_distance_m, low=self.min_distance_m)
        check_float("carrier_hz", self.carrier_hz, low=0, low_open=True)
        check_float("noise_figure_db", self.noise_figure_db, low=0)
        check_int("packet_bits", self.packet_bits, 1)
        check_float("decoding_error", self.decoding_error, low=0, low_open=True, high=1, high_open=True)
        check_float("deadline_s", self.deadline_s, low=0, low_open=True)
        check_float("reliability_target", self.reliability_target, low=0, low_open=True, high=1, high_open=True)
        check_choice("arrival", self.arrival, ARRIVAL_PROCESSES)
        check_float("arrival_rate_per_s", self.arrival_rate_per_s, low=0)
        check_float("burst_rate_per_s", self.burst_rate_per_s, low=0)
        check_float("mean_on_s", self.mean_on_s, low=0, low_open=True)
        check_float("mean_off_s", self.mean_off_s, low=0, low_open=True)
        check_optional_str("trace_path", self.trace_path, "a CSV file of time_s,user rows, or null")
        if self.arrival == "trace":
            if self.trace_path is None or not Path(self.trace_path).is_file():
                raise ConfigError("trace_path", self.trace_path, "an existing CSV file of time_s,user rows (arrival=trace)")
        if self.regime_change_slot is not None:
            check_int("regime_change_slot", self.regime_change_slot, 0)
        check_float("surge_factor", self.surge_factor, low=0)
        check_float("fade_db", self.fade_db, low=0)

    @property
    def channel_uses(self) -> float:
        """Channel uses of one resource block in one slot (bandwidth × duration)."""
        return self.rb_hz * self.slot_s

    @property
    def deadline_slots(self) -> int:
        return max(1, int(math.floor(self.deadline_s / self.slot_s + 1e-9)))

    @property
    def noise_per_rb_w(self) -> float:
        return THERMAL_NOISE_PSD_W_HZ * self.rb_hz * 10.0 ** (self.noise_figure_db / 10.0)


def read_arrival_trace(path: str | Path, users: int) -> list[np.ndarray]:
    """Per user, the sorted arrival times (s) of a CSV with ``time_s,user`` rows (header optional)."""
    try:
        rows = np.atleast_2d(np.loadtxt(path, delimiter=",", comments="#", skiprows=_header_rows(path)))
    except (OSError, ValueError) as error:
        raise ConfigError("urllc.trace_path", str(path), f"a CSV of time_s,user rows ({error})") from None
    if rows.size == 0:
        return [np.zeros(0) for _ in range(users)]
    if (rows.shape[1] != 2 or not np.all(np.isfinite(rows)) or np.any(rows[:, 0] < 0)
            or np.any((rows[:, 1] < 0) | (rows[:, 1] >= users) | (rows[:, 1] != np.round(rows[:, 1])))):
        raise ConfigError("urllc.trace_path", str(path), f"rows of a finite time_s >= 0 and an integer user in [0, {users})")
    return [np.sort(rows[rows[:, 1] == u, 0]) for u in range(users)]


def _header_rows(path: str | Path) -> int:
    with open(path, encoding="utf-8") as fh:
        first = fh.readline()
    return 1 if any(c.isalpha() for c in first) else 0


@dataclass(frozen=True, eq=False)
class SlotOutcome:
    slot: int
    allocation: RbAllocation
    sent_packets: np.ndarray  # (U,)
    reliable: np.ndarray  # (U,) packets decoded within the deadline this slot
    late: np.ndarray  # (U,) packets dropped for exceeding the deadline
    decode_failures: np.ndarray  # (U,)
    latency_s: np.ndarray  # latencies of the packets delivered this slot (any user)
    arrived: np.ndarray  # (U,) packets that arrived during the slot (queued for the next)

    @property
    def power_w(self) -> float:
        return self.allocation.total_power_w


class UrllcCell:
    """The cell's state, stepped one slot at a time. ``conditions`` overrides the traffic and the
    channel per user (what a generated "experience" sets): (U,) arrival rates and gain offsets."""

    def __init__(self, config: UrllcConfig, seed: int) -> None:
        self.config = config
        self.seed = int(seed)
        rng = numpy_stream(seed, "urllc-placement")
        u = config.users
        radius = np.sqrt(rng.uniform(config.min_distance_m**2, config.max_distance_m**2, u))
        los = draw_los(rng, umi_los_probability(radius))
        self.distance_m = radius
        self.mean_gain = 10.0 ** (-umi_38901_db(radius, config.carrier_hz, los=los) / 10.0)
        self.queues: list[deque[int]] = [deque() for _ in range(u)]
        self.slot = 0
        self.rate_override_per_s: np.ndarray | None = None
        self.gain_offset_db = np.zeros(u)
        self._trace = read_arrival_trace(config.trace_path, u) if config.arrival == "trace" else None
        self._on = np.zeros(u, dtype=bool)
        self.gain = self._draw_gain()

    # -- what the controller sees ---------------------------------------------------------------
    def queue_lengths(self) -> np.ndarray:
        return np.array([len(q) for q in self.queues], dtype=np.int64)

    def head_age_slots(self) -> np.ndarray:
        """Age of each user's oldest packet in slots (0: empty queue)."""
        return np.array([self.slot - q[0] + 1 if q else 0 for q in self.queues], dtype=np.int64)

    def arrival_rate_per_s(self) -> np.ndarray:
        """The rate the traffic process draws from now (for the oracle and the generator)."""
        cfg = self.config
        if self.rate_override_per_s is not None:
            return self.rate_override_per_s.copy()
        base = np.full(cfg.users, cfg.arrival_rate_per_s)
        if cfg.arrival == "on_off":
            base = np.where(self._on, cfg.burst_rate_per_s, 0.0)
        return base * (cfg.surge_factor if self._regime_changed() else 1.0)

    def gain_offset_now_db(self) -> np.ndarray:
        return self.gain_offset_db + (self.config.fade_db if self._regime_changed() else 0.0)

    def _regime_changed(self) -> bool:
        change = self.config.regime_change_slot
        return change is not None and self.slot >= change

    def _draw_gain(self) -> np.ndarray:
        fading = numpy_stream(self.seed, "urllc-fading", self.slot).exponential(1.0, self.config.users)
        return self.mean_gain * fading * 10.0 ** (-self.gain_offset_now_db() / 10.0)

    # -- one slot --------------------------------------------------------------------------------
    def step(self, packets_to_send: np.ndarray) -> SlotOutcome:
        """Send up to ``packets_to_send[u]`` queued packets per user this slot."""
        cfg = self.config
        want = np.minimum(np.maximum(np.asarray(packets_to_send, dtype=np.int64), 0), self.queue_lengths())

        def allocate() -> RbAllocation:
            return allocate_blocks(
                want * cfg.packet_bits, self.gain, blocks=cfg.resource_blocks, noise_w=cfg.noise_per_rb_w,
                channel_uses=cfg.channel_uses, epsilon=cfg.decoding_error, max_power_w=cfg.max_power_w,
            )

        allocation = allocate()
        while not allocation.feasible:  # over the power budget: drop the costliest user's last packet
            want[int(np.argmax(allocation.power_w))] -= 1
            allocation = allocate()
        decoded = numpy_stream(self.seed, "urllc-decoding", self.slot).random((cfg.users, max(int(want.max(initial=0)), 1))) >= cfg.decoding_error
        reliable = np.zeros(cfg.users, dtype=np.int64)
        failures = np.zeros(cfg.users, dtype=np.int64)
        latencies = []
        for u in range(cfg.users):
            for k in range(int(want[u])):
                arrived = self.queues[u].popleft()
                if decoded[u, k]:
                    reliable[u] += 1
                    latencies.append((self.slot - arrived + 1) * cfg.slot_s)
                else:
                    failures[u] += 1
        self.slot += 1
        late = self._expire()
        arrived = self._arrive()
        self.gain = self._draw_gain()
        return SlotOutcome(self.slot - 1, allocation, want, reliable, late, failures, np.array(latencies), arrived)

    def _expire(self) -> np.ndarray:
        """Drop packets that can no longer make the deadline in the coming slot."""
        late = np.zeros(self.config.users, dtype=np.int64)
        limit = self.config.deadline_slots
        for u, q in enumerate(self.queues):
            while q and self.slot - q[0] + 1 > limit:
                q.popleft()
                late[u] += 1
        return late

    def _arrive(self) -> np.ndarray:
        cfg = self.config
        rng = numpy_stream(self.seed, "urllc-arrivals", self.slot)
        if self._trace is not None:
            start, end = (self.slot - 1) * cfg.slot_s, self.slot * cfg.slot_s
            counts = np.array([np.count_nonzero((t >= start) & (t < end)) for t in self._trace])
        else:
            if cfg.arrival == "on_off" and self.rate_override_per_s is None:
                flip = rng.random(cfg.users) < cfg.slot_s / np.where(self._on, cfg.mean_on_s, cfg.mean_off_s)
                self._on = self._on ^ flip
            counts = rng.poisson(self.arrival_rate_per_s() * cfg.slot_s)
        for u, count in enumerate(counts):
            self.queues[u].extend([self.slot] * int(count))
        return np.asarray(counts, dtype=np.int64)
