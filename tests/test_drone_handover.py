"""Cellular-connected drones: the network's physics, handover accounting, and the handover rules."""

from __future__ import annotations

import importlib
import math

import gymnasium
import numpy as np
import pytest

from fedsim.control import A3Event, HandoverConfig, HandoverMDP, QLearningHandover, StrongestCell, greedy_serving, train_q_table
from fedsim.errors import ConfigError
from fedsim.rng import numpy_stream
from fedsim.world import CellularConfig, CellularNetwork, DroneRoute, RouteLinks, panel_gain_db, random_route, trace_flight, upload_time_s
from fedsim.world._antenna import element_gain_38901_db
from fedsim.world._cellular import hex_sites_m
from fedsim.world._handover import handover_flags, radio_link_failures


@pytest.fixture(scope="module")
def network() -> CellularNetwork:
    return CellularNetwork(CellularConfig(), seed=0)


@pytest.fixture(scope="module")
def links(network) -> RouteLinks:
    route = random_route(network.bounds_m, numpy_stream(0, "r"), legs=3, margin_m=100.0)
    return RouteLinks.measure(network, route, 10.0)


# -- the network ---------------------------------------------------------------------------------


def test_panel_peaks_at_the_tilt_with_the_array_gain_and_has_sky_nulls():
    zenith = np.linspace(0.0, 180.0, 18001)
    gain = panel_gain_db(zenith, 0.0, downtilt_deg=10.0, vertical_elements=8)
    assert zenith[np.argmax(gain)] == pytest.approx(100.0, abs=0.5)  # 90° + 10° down-tilt
    # the array gain N on top of the element, which is itself 12·(10/65)² dB down at 100°
    at_tilt = panel_gain_db(100.0, 0.0, downtilt_deg=10.0, vertical_elements=8)
    assert at_tilt == pytest.approx(8.0 - 12 * (10 / 65) ** 2 + 10 * math.log10(8), abs=1e-9)
    assert gain.max() == pytest.approx(at_tilt, abs=0.05)
    sky = gain[zenith < 80.0]  # above the horizon
    assert sky.min() < gain.max() - 40.0  # nulls
    # and sidelobes: local maxima in the sky well above the nulls
    peaks = (sky[1:-1] > sky[:-2]) & (sky[1:-1] > sky[2:])
    assert peaks.sum() >= 2
    # one element: the TR 38.901 element itself
    one = panel_gain_db([60.0, 90.0, 120.0], [0.0, 30.0, -50.0], downtilt_deg=0.0, vertical_elements=1)
    np.testing.assert_allclose(one, element_gain_38901_db([60.0, 90.0, 120.0], [0.0, 30.0, -50.0]))


def test_hex_layout_has_rings_of_sites_at_the_inter_site_distance():
    sites = hex_sites_m(1, 500.0)
    assert sites.shape == (7, 2)
    np.testing.assert_allclose(sites[0], [0.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(np.hypot(*sites[1:].T), 500.0)
    assert hex_sites_m(2, 500.0).shape == (19, 2)
    assert CellularNetwork(CellularConfig(rings=2), 0).num_cells == 57


def test_channel_is_spatially_consistent_and_seeded(network):
    points = np.array([[10.0, 20.0, 100.0], [300.0, -200.0, 100.0]])
    first = network.rsrp_dbm(points)
    again = network.rsrp_dbm(points[::-1])[::-1]  # another flight over the same points
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(first, CellularNetwork(CellularConfig(), 0).rsrp_dbm(points))
    assert not np.allclose(first, CellularNetwork(CellularConfig(), 1).rsrp_dbm(points))
    near = network.rsrp_dbm(points + [1.0, 0.0, 0.0])
    assert np.max(np.abs(near - first)) < 3.0  # 1 m away: nearly the same channel
    assert first.shape == (2, 21) and np.all((first > -160) & (first < -30))


def test_sinr_counts_every_other_cell_as_interference(network):
    rsrp = np.array([[-70.0, -70.0, -200.0]])
    # two equal cells and far-below-noise others: SINR = 0 dB minus the noise's small share
    assert network.sinr_db(rsrp, [0])[0] == pytest.approx(0.0, abs=0.01)
    rsrp = np.array([[-70.0, -80.0, -80.0]])
    assert network.sinr_db(rsrp, [0])[0] == pytest.approx(10 * math.log10(1 / 0.2), abs=0.01)


# -- what a serving sequence costs ---------------------------------------------------------------


def test_handover_flags_and_radio_link_failures_by_hand():
    np.testing.assert_array_equal(handover_flags([3, 3, 5, 5, 3]), [False, False, True, False, True])
    sinr = np.array([0, -9, -9, -9, 0, -9, -9, 0], dtype=float)
    # step 0.5 s, T310 1 s: the 3-sample run (1.5 s) fails, the 2-sample run (1.0 s) does not
    assert radio_link_failures(sinr, 0.5, -8.0, 1.0) == 1
    assert radio_link_failures(sinr, 0.5, -8.0, 0.9) == 2


def test_upload_time_integrates_rates_and_loses_interruptions_by_hand():
    rate = np.array([100.0, 200.0, 100.0, 100.0])
    no_ho = np.zeros(4, dtype=bool)
    # 1 s intervals: 100 bits in interval 0, 200 in 1, so 250 bits end 0.75 s into interval 1
    assert upload_time_s(rate, no_ho, 1.0, 0.0, 250.0, 0.05) == pytest.approx(1.75)
    ho = np.array([False, True, False, False])
    # resume: the handover at interval 1 silences its first 0.05 s
    assert upload_time_s(rate, ho, 1.0, 0.0, 250.0, 0.05, "resume") == pytest.approx(1.80)
    # restart: the 100 bits of interval 0 are lost too; 250 bits then need 190 + 60 bits
    assert upload_time_s(rate, ho, 1.0, 0.0, 250.0, 0.05, "restart") == pytest.approx(1.0 + 1.0 + 0.6)
    # starting 0.5 s in: 50 bits in interval 0, then 0.05 s lost, then 150 bits at 200 b/s
    assert upload_time_s(rate, ho, 1.0, 0.5, 200.0, 0.05, "resume") == pytest.approx(0.5 + 0.05 + 0.75)
    # the route loops: 600 bits need a second lap (lap = 100 + 190 + 100 + 100 = 490 bits); of
    # the last 110, interval 0 carries 100, then interval 1 loses 0.05 s again and sends 10 in 0.05 s
    assert upload_time_s(rate, ho, 1.0, 0.0, 600.0, 0.05, "resume") == pytest.approx(4.0 + 1.0 + 0.05 + 0.05)
    # restart: no handover-free stretch carries 600 bits (the longest, from interval 1 round to 0, carries 490)
    assert upload_time_s(rate, ho, 1.0, 0.0, 600.0, 0.05, "restart") == math.inf
    assert upload_time_s(np.zeros(4), no_ho, 1.0, 0.0, 1.0, 0.05) == math.inf


def test_trace_flight_prices_a_sequence(network, links):
    serving = StrongestCell(HandoverConfig(), network.bounds_m).serve(links)
    trace = trace_flight(network, links, serving)
    np.testing.assert_array_equal(trace.rsrp_dbm, links.rsrp_dbm.max(axis=1))
    assert trace.handovers == int(np.sum(serving[1:] != serving[:-1]))
    assert trace.handovers_per_km == pytest.approx(trace.handovers / (links.arc_m[-1] / 1000))
    assert trace.interruption_s == pytest.approx(trace.handovers * 0.05)


# -- rules -----------------------------------------------------------------------------------------


class _Links:
    """A hand-made link map (two cells) with the RouteLinks fields the rules read."""

    def __init__(self, rsrp, step_s=0.5):
        self.rsrp_dbm = np.asarray(rsrp, dtype=float)
        self.step_s = step_s
        self.num_points = self.rsrp_dbm.shape[0]
        self.points_m = np.zeros((self.num_points, 3))


def test_a3_waits_for_offset_hysteresis_and_time_to_trigger():
    # cell 1 beats cell 0 by 5 dB from point 1 on, by 3.5 dB at point 4
    rsrp = [[-70, -80], [-80, -75], [-80, -75], [-80, -75], [-80, -76.5], [-80, -75]]
    cfg = HandoverConfig(a3_offset_db=3.0, a3_hysteresis_db=1.0, a3_ttt_s=1.0)  # two 0.5 s points
    np.testing.assert_array_equal(A3Event(cfg, (0, 0, 1, 1)).serve(_Links(rsrp)), [0, 0, 1, 1, 1, 1])
    # 3.5 dB < offset + hysteresis: never hands over on that margin
    rsrp = [[-70, -80]] + [[-80, -76.5]] * 5
    np.testing.assert_array_equal(A3Event(cfg, (0, 0, 1, 1)).serve(_Links(rsrp)), [0] * 6)
    np.testing.assert_array_equal(StrongestCell(cfg, (0, 0, 1, 1)).serve(_Links(rsrp)), [0, 1, 1, 1, 1, 1])


def test_q_learning_with_no_handover_cost_is_the_strongest_cell(network, links):
    cfg = HandoverConfig(w_ho=0.0)
    strongest = trace_flight(network, links, StrongestCell(cfg, network.bounds_m).serve(links))
    learned = trace_flight(network, links, QLearningHandover(cfg, network.bounds_m, seed=0).serve(links))
    assert learned.handovers == strongest.handovers > 0


def test_q_learning_is_seeded_and_trades_handovers_for_little_rsrp(network, links):
    cfg = HandoverConfig(w_ho=1 / 9)
    mdp = HandoverMDP(links, cfg, network.bounds_m)
    first, second = train_q_table(mdp, cfg, seed=3), train_q_table(mdp, cfg, seed=3)
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, train_q_table(mdp, cfg, seed=4))
    strongest = trace_flight(network, links, StrongestCell(cfg, network.bounds_m).serve(links))
    learned = trace_flight(network, links, greedy_serving(mdp, first))
    assert learned.handovers <= 0.5 * strongest.handovers
    assert strongest.rsrp_dbm.mean() - learned.rsrp_dbm.mean() <= 3.0
    # the exact optimum of the same process is at least as good as what Q-learning found
    optimum = mdp.optimal_serving(cfg.gamma)
    values = mdp.optimal_values(cfg.gamma)
    assert mdp.discounted_return(optimum, cfg.gamma) == pytest.approx(values[0, mdp.start_cell])
    assert mdp.discounted_return(greedy_serving(mdp, first), cfg.gamma) <= values[0, mdp.start_cell] + 1e-9


def test_dqn_training_is_seeded(network, links):
    pytest.importorskip("torch")
    from fedsim.rl import DqnHandover

    cfg = HandoverConfig(rule="dqn", w_ho=1 / 9, dqn_episodes=4, dqn_buffer=1000)
    a = DqnHandover(cfg, network.bounds_m, seed=0).fit([links])
    b = DqnHandover(cfg, network.bounds_m, seed=0).fit([links])
    for key, value in a.learner.net.state_dict().items():
        assert np.array_equal(value.numpy(), b.learner.net.state_dict()[key].numpy()), key
    np.testing.assert_array_equal(a.serve(links), b.serve(links))


# -- bad input -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "build, key",
    [
        (lambda: CellularConfig(layout="square"), "layout"),
        (lambda: DroneRoute(np.array([[0.0, 0.0], [100.0, 0.0]]), altitude_m=-5.0), "route.altitude_m"),
        (lambda: HandoverMDP(_route_links(), HandoverConfig(candidates=22), (-750, -700, 750, 700)), "handover.candidates"),
        (lambda: CellularNetwork(CellularConfig(), 0).rsrp_dbm([[5000.0, 0.0, 100.0]]), "route"),
    ],
)
def test_bad_values_are_one_line_errors(build, key):
    with pytest.raises(ConfigError) as err:
        build()
    assert err.value.key == key
    assert "\n" not in str(err.value)


def _route_links() -> RouteLinks:
    net = CellularNetwork(CellularConfig(), 0)
    return RouteLinks.measure(net, DroneRoute(np.array([[0.0, 0.0], [300.0, 0.0]])), 10.0)


# -- the Gymnasium environment ---------------------------------------------------------------------


def test_drone_handover_env_passes_the_gymnasium_checker():
    importlib.import_module("fedsim.envs")  # registers the environment
    from gymnasium.utils.env_checker import check_env

    env = gymnasium.make("fedsim/DroneHandover-v0")
    check_env(env.unwrapped)
    obs, info = env.reset(seed=5)
    again, _ = env.reset(seed=5)
    np.testing.assert_array_equal(obs, again)
    total, done, handovers = 0.0, False, 0
    while not done:
        obs, reward, done, truncated, info = env.step(0)  # always keep the first cell
        total += reward
        handovers += info["handover"]
    assert handovers == 0 and total > 0


def test_drone_handover_env_refuses_a_step_after_the_end_and_actions_outside_its_space():
    importlib.import_module("fedsim.envs")
    env = gymnasium.make("fedsim/DroneHandover-v0").unwrapped
    with pytest.raises(RuntimeError, match=r"call reset\(\) before step\(\)"):
        env.step(0)
    env.reset(seed=1)
    for action in (1.5, np.float64(1.0), "1", -1, env.action_space.n, True, [0], None):
        with pytest.raises(ValueError, match=r"is not allowed: an integer in \[0, "):
            env.step(action)
    env.step(np.int64(1))  # numpy's integers are actions (what agents hand over)
    terminated = False
    while not terminated:
        _, _, terminated, _, _ = env.step(0)
    with pytest.raises(RuntimeError, match=r"call reset\(\) before step\(\) after the episode ended"):
        env.step(0)
    env.reset(seed=1)
    env.step(0)  # a new episode steps again


def test_stable_baselines3_dqn_trains_on_the_environment_unchanged():
    sb3 = pytest.importorskip("stable_baselines3")
    importlib.import_module("fedsim.envs")

    env = gymnasium.make("fedsim/DroneHandover-v0")
    model = sb3.DQN("MlpPolicy", env, learning_starts=50, buffer_size=1000, seed=0, verbose=0)
    model.learn(total_timesteps=300)
    obs, _ = env.reset(seed=1)
    action, _ = model.predict(obs, deterministic=True)
    assert env.action_space.contains(int(action))


# -- drones that run FL ------------------------------------------------------------------------------


def _drone_world(seed=0, cellular=None, **handover):
    from fedsim.config import RunConfig
    from fedsim.control import assign_handover
    from fedsim.world import Workload, World

    cfg = RunConfig.from_mapping({
        "mobility": {"kind": "drone_routes", "speed_mps": [15.0, 20.0]},
        "world": {"num_devices": 6, "deadline_s": 0.5},
        "op": {"devices_per_round": 6},
        "handover": handover,
        "cellular": cellular or {},
    })
    world = World(cfg.world_config, Workload(params=100_000, macs=1e6, activations=1000, input_size=64), seed)
    assign_handover(world, cfg.handover)
    return world


def _rounds(world, count=40, bits=2.5e6):
    from fedsim.world import RoundPlan

    n = world.num_devices
    return [world.simulate_round(RoundPlan(r, np.arange(n), np.full(n, 1), np.full(n, 8), np.full(n, bits))) for r in range(count)]


def test_drone_rounds_are_seeded_and_handovers_cost_uploads():
    first, second = _rounds(_drone_world()), _rounds(_drone_world())
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a.finish_s, b.finish_s)
        np.testing.assert_array_equal(a.drop_reason, b.drop_reason)
    reasons = np.concatenate([o.drop_reason for o in first])
    assert "handover" in reasons  # some uploads met the deadline only without their handover
    # the serving cell moves with the drones, and positions follow their routes
    assert len({tuple(o.channel) for o in first}) > 1
    assert not np.allclose(first[0].position_m, first[-1].position_m)


def test_drone_uploads_resumed_by_the_network_lose_less_than_restarted_ones():
    restart = _drone_world()
    resume = _drone_world(cellular={"upload_on_handover": "resume"})  # the same network and routes
    lost = {name: sum(int(np.sum(o.drop_reason == "handover")) for o in _rounds(w)) for name, w in (("restart", restart), ("resume", resume))}
    assert lost["resume"] < lost["restart"]


def test_a_learned_handover_rule_serves_the_fl_drones():
    strongest = _drone_world()
    learned = _drone_world(rule="q_learning", w_ho=1 / 9)
    changes = lambda w: sum(int(np.sum(h)) for h in w.drones.handover)  # noqa: E731
    assert changes(learned) < changes(strongest)


def test_the_server_observes_each_drones_serving_cell_and_its_rate():
    world = _drone_world()
    obs = world.observe(0)
    np.testing.assert_array_equal(obs.serving_cell, world.drones.serving_cells())
    sinr = 10 ** (world.drones.serving_sinr_db(np.arange(world.num_devices), 0.0) / 10)
    np.testing.assert_allclose(obs.expected_rate_bps(), world.config.cellular.bandwidth_hz * np.log2(1 + sinr))


def test_flower_apps_in_the_wireless_world_get_the_configured_handover_rule():
    from flwr.clientapp import ClientApp

    from fedsim.config import RunConfig
    from fedsim.control import HandoverConfig
    from fedsim.engine._world_grid import WorldGrid
    from fedsim.ledger import Ledger
    from fedsim.world import Workload

    cfg = RunConfig.from_mapping({"mobility": {"kind": "drone_routes"}, "world": {"num_devices": 4}, "op": {"devices_per_round": 4}})
    workload = Workload(params=1000, macs=1e5, activations=100, input_size=64)

    def world(handover):
        grid = WorldGrid(ClientApp(), cfg.world_config, {}, seed=0, workload=workload, ledger=Ledger(None), handover=handover)
        return grid._world_for([])

    strongest, learned = world(None), world(HandoverConfig(rule="q_learning", w_ho=1 / 9))
    changes = lambda w: sum(int(np.sum(h)) for h in w.drones.handover)  # noqa: E731
    assert changes(learned) < changes(strongest)


def test_link_events_count_a_windows_handovers_and_radio_link_failures_by_hand():
    world = _drone_world()
    fleet = world.drones
    links, flags = fleet.links[0], fleet.handover[0]
    step, points = links.step_s, links.num_points
    lap_s = points * step
    # One whole lap (a half-step in, so no point sits on an edge): every handover of the loop once.
    handovers, _ = fleet.link_events(np.array([0]), 0.5 * step, 0.5 * step + lap_s)
    assert handovers[0] == flags.sum() > 0
    # Windows that split (0, T] count each handover once, at the point the drone reaches it;
    # time 0 starts the flight (no handover there even where the loop's last cell differs).
    edges = np.linspace(0.0, 1.7 * lap_s, 12)
    split = sum(int(fleet.link_events(np.array([0]), a, b)[0][0]) for a, b in zip(edges[:-1], edges[1:]))
    reached = np.arange(1, int(edges[-1] // step) + 1)
    assert split == int(flags[reached % points].sum())
    # Radio-link failures: an out-of-sync run longer than T310 (1 s) inside the window is one.
    sinr = fleet.sinr_db[0].copy()
    fleet.sinr_db[0] = np.full(points, 10.0)
    fleet.sinr_db[0][2:2 + int(np.ceil(1.5 / step)) + 1] = -20.0  # > 1.5 s below Q_out = -8 dB
    try:
        assert fleet.link_events(np.array([0]), 0.0, 0.5 * lap_s)[1][0] == 1
        assert fleet.link_events(np.array([0]), 0.0, step)[1][0] == 0  # the run starts after this window
    finally:
        fleet.sinr_db[0] = sinr


def test_a_drone_runs_devices_csv_says_what_the_handover_rule_did(tmp_path):
    """devices.csv of cellular drones ends with serving_cell, handovers and rlf; over the rounds
    (which follow one another on the clock) the handovers add up to those along the routes."""
    import csv

    import fedsim
    from fedsim.ledger import DEVICE_COLUMNS, DRONE_DEVICE_COLUMNS

    overrides = {"mobility": {"kind": "drone_routes", "speed_mps": [15.0, 20.0]}, "world": {"num_devices": 4, "deadline_s": 3.0},
                 "op": {"devices_per_round": 4, "uplink_bits": 32}, "rounds": 4, "model": {"hidden": [256, 256]}}
    fedsim.run(overrides, tmp_path)
    with open(tmp_path / "devices.csv") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames) == DEVICE_COLUMNS + tuple(c.name for c in DRONE_DEVICE_COLUMNS)
        rows = list(reader)
    with open(tmp_path / "rounds.csv") as handle:
        rounds = [r for r in csv.DictReader(handle) if r["round"] != "0"]
    ends = [float(r["sim_time_s"]) for r in rounds]
    starts = [e - float(r["round_time_s"]) for e, r in zip(ends, rounds)]
    np.testing.assert_allclose(starts, [0.0, *ends[:-1]], atol=1e-9)  # contiguous rounds
    fleet = _drone_world_of(overrides)
    for device in range(4):
        mine = [r for r in rows if int(r["device"]) == device]
        assert len(mine) == 4
        step, points = fleet.links[device].step_s, fleet.links[device].num_points
        reached = np.arange(1, int(ends[-1] // step) + 1)
        assert sum(int(r["handovers"]) for r in mine) == int(fleet.handover[device][reached % points].sum())
        assert all(int(r["rlf"]) >= 0 for r in mine)
        for r in mine:  # the serving cell at the upload's start (round start + download + compute)
            upload_start_s = float(r["finish_s"]) - float(r["upload_s"])
            assert int(r["serving_cell"]) in range(fleet.network.num_cells)
            assert int(r["serving_cell"]) == fleet.serving_cells(upload_start_s)[device] or r["drop_reason"]
    assert sum(int(r["handovers"]) for r in rows) > 0  # uploads of seconds at 15-20 m/s cross cells


def _drone_world_of(overrides):
    from fedsim.config import RunConfig
    from fedsim.control import assign_handover
    from fedsim.world import Workload, World

    cfg = RunConfig.from_mapping(overrides)
    world = World(cfg.world_config, Workload(params=1, macs=1.0, activations=1, input_size=64), cfg.seed)
    assign_handover(world, cfg.handover)
    return world.drones
