"""Cross-check of fedsim's uplink airtime against ns-3's LTE stack (fedsim issue 31).

README: ``python validation/ns3_lte.py`` uploads one payload from N UEs (N = 1, 5, 20; near, far
and mixed distances; a digits-MLP update and a 120 KB one) through ns-3 3.44's full LTE uplink
(PHY with its MI error model and HARQ, the PF scheduler, RLC UM, PDCP, the EPC to a remote host)
and through a fedsim World with the same geometry, power, band and path loss, prints the
completion times side by side, and ends with one JSON line: the median fedsim/ns-3 ratio per rate
model and N. Needs the optional extra ``pip install 'fedsim[ns3]'`` (ns-3's Python bindings, about
120 MB; the first import compiles them for 10-90 s).

What is matched, and how:

- Geometry: one eNB at ``enb_position_m``, UEs at the given positions, every antenna at height 0
  (fedsim's ``device_height_m = bs_height_m = 0``), isotropic, static.
- Path loss: ns-3's LogDistancePropagationLossModel reproduces fedsim's deterministic models
  exactly for d >= 1 m (:func:`log_distance_equivalent`): ``exponent`` (fedsim's default,
  PL = 10·n·log10(d)) is (n, d0 = 1 m, L0 = 0 dB); ``macro_36814`` is (3.76, 1 m, 15.3 dB);
  ``free_space`` is (2, 1 m, Friis at 1 m). No fading, no shadowing on either side.
- Band and noise: ``bandwidth_prb`` resource blocks of 180 kHz; fedsim's ``bandwidth_hz`` is the
  occupied band, ``bandwidth_prb``·180 kHz (9 MHz for a 10 MHz carrier), so both sides see the
  same noise, -174 dBm/Hz plus the eNB noise figure (ns-3's default 5 dB, set on both sides).
- Power: fixed, ``ue_tx_power_dbm`` on both sides (ns-3's uplink power control is switched off:
  LteUePhy::EnableUplinkPowerControl = false, so the UE sends TxPower spread over its granted RBs,
  as fedsim's FDMA puts the full power on its sub-band).
- Multiple access: ns-3's uplink schedulers (all FF schedulers share this code) split the RBs
  equally among the UEs with data each TTI (at least 3 RBs each), all sending at once; fedsim's
  ``access.scheme = fdma`` is that split (B/K each, power on the sub-band). Unlike fedsim's FDMA,
  ns-3 gives a finished UE's RBs to the others (work-conserving), which the mixed band shows.
- Stack: the PF scheduler (ns-3's default, PfFfMacScheduler; in the uplink it is the shared
  equal-split allocator), HARQ on (up to 3 retransmissions), SRS-based UL CQI (SRS every 40 ms,
  the default), RLC UM with its transmit buffer raised so that no burst is dropped, ideal RRC.
  Each UE hands its payload to UDP at ``start_s`` (in 1400-byte datagrams, back to back); its
  completion time is the arrival of its last datagram at the remote host (FlowMonitor) minus
  ``start_s``. The S1-U and SGi links have no delay and 10/100 Gb/s.

fedsim's ``lte`` rate model (``radio.rate_model=lte``, the 3GPP link abstraction with its 12 ms
grant delay) is measured in the World, completion from the data being ready to its arrival.

Measured 2026-12-07 (load 0.7-3): median completion-time ratio fedsim/ns-3 per N (1, 5, 20):
``lte`` with ns-3's link adaptation (wideband SRS SINR, SNR gap 7.43 dB) 0.96, 0.98, 0.87, every
case in 0.84-1.00; ``lte`` at fedsim's defaults (10% BLER target on the sub-band SINR) 0.89, 0.81,
0.78, far UEs 0.44-0.78 (a higher MCS than ns-3's 16 at 14.3 dB); ``shannon`` 0.18, 0.22, 0.20.
The one calibrated constant is LTE's 12 ms grant delay (``radio.grant_delay_s``'s default).

What ns-3 does that a Shannon airtime does not (the table's stack columns show each): a fixed
~12 ms from the payload reaching the UE's buffer to its first TB at the eNB and on to the host
(BSR, the grant 4 TTIs ahead, decoding); whole 1 ms TTIs of 3GPP TB sizes (TS 36.213) capped at
MCS 28 (64QAM, 4.08 bit/s/Hz over 50 RBs); an MCS picked from the SRS SINR, i.e. the power spread
over the whole band even when the UE sends on fewer RBs, with a 7.4 dB gap (-ln(5·BER)/1.5,
BER 5e-5) before the CQI table; at least 3 RBs per UE (20 UEs on 50 RBs: 16 served per TTI);
IP/UDP/PDCP/RLC headers and a padded last TB (TB bytes / payload in the table); HARQ
retransmissions where the MI error model fails a TB.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import math
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import numpy as np

# Run as a script, sys.path[0] is validation/ itself: the repository root goes first so that
# benchmarks._common imports (the load-average helper every measurement script prints).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import print_load_average  # noqa: E402
from fedsim.world import AccessConfig, DeploymentConfig, RadioConfig, RoundPlan, Workload, World, WorldConfig  # noqa: E402
from fedsim.world._motion import GroundMotion  # noqa: E402
from fedsim.world._pathloss import free_space_db  # noqa: E402
from fedsim.world._units import dbm_to_w  # noqa: E402

PRB_HZ = 180e3  # one LTE resource block: 12 subcarriers of 15 kHz
# ns-3's LTE AMC (LteAmc, its scheduler's MCS choice): spectral efficiency log2(1 + SINR/Γ) with
# Γ = -ln(5·BER)/1.5 at its BER 5e-5, i.e. 7.4 dB (Goldsmith and Chua's M-QAM bound).
NS3_SNR_GAP_DB = 10.0 * math.log10(-math.log(5 * 5e-5) / 1.5)
# The digits MLP (64-128-64-10, conf/model/mlp.yaml) has 17,226 parameters: 17,226 bytes at the
# default 8-bit uplink. The larger payload makes many transport blocks per UE.
DIGITS_MLP_UPDATE_BYTES = 17_226
# 120 KB stays under LTE's top buffer-status level (BSR index 63 = "more than 150,000 bytes"):
# ns-3's scheduler grants what the BSR announced and then idles ~18 ms until the UE reports again,
# a stall per 150 KB that is ns-3's, not the radio's (run --only 1:far:200000 to see it).
LARGE_UPDATE_BYTES = 120_000
DISTANCE_BANDS_M = {"near": (50.0, 150.0), "far": (350.0, 500.0), "mixed": (50.0, 500.0)}
DATAGRAM_BYTES = 1400  # UDP payload per datagram: 1428 B IP packets fit the 1500 B MTU
_MACRO_36814_SLOPE = 3.76  # TR 36.814: 128.1 + 37.6·log10(d / 1 km)
_MACRO_36814_LOSS_AT_1KM_DB = 128.1


# --- the link both simulators model --------------------------------------------------------------


def log_distance_equivalent(radio: RadioConfig) -> tuple[float, float, float]:
    """(exponent n, reference distance d0 in m, reference loss L0 in dB) of the ns-3
    LogDistancePropagationLossModel, PL = L0 + 10·n·log10(d/d0) (L0 below d0), that equals
    fedsim's ``radio.path_loss`` for every d >= 1 m; only deterministic models have one."""
    if radio.path_loss == "exponent":
        return float(radio.path_loss_exponent), 1.0, 0.0
    if radio.path_loss == "macro_36814":  # 128.1 + 37.6·(log10(d) - 3): L0 at 1 m is 15.3 dB
        return _MACRO_36814_SLOPE, 1.0, _MACRO_36814_LOSS_AT_1KM_DB - 10.0 * _MACRO_36814_SLOPE * 3.0
    if radio.path_loss == "free_space":
        return 2.0, 1.0, float(free_space_db(1.0, radio.carrier_hz))
    raise ValueError(f"radio.path_loss={radio.path_loss!r} has no ns-3 log-distance equivalent (exponent, macro_36814, free_space)")


def comparison_radio(bandwidth_prb: int, ue_tx_power_dbm: float, noise_figure_db: float, path_loss: str = "exponent", path_loss_exponent: float = 4.0) -> RadioConfig:
    """fedsim's radio section for the comparison: the occupied band of ``bandwidth_prb`` RBs,
    fixed power, the eNB's noise figure, a deterministic path loss, no fading or shadowing."""
    return RadioConfig(
        tx_power_w=float(dbm_to_w(ue_tx_power_dbm)),
        bandwidth_hz=bandwidth_prb * PRB_HZ,
        noise_figure_db=noise_figure_db,
        path_loss=path_loss,
        path_loss_exponent=path_loss_exponent,
        fading="none",
        shadowing_db=0.0,
    )


def band_positions(count: int, band_m: tuple[float, float]) -> np.ndarray:
    """(count, 2) positions around an eNB at the origin: distances evenly spaced over the band
    (the midpoint for one UE), angles evenly spaced (one cell: the angle changes nothing)."""
    low, high = band_m
    distances = np.array([(low + high) / 2.0]) if count == 1 else np.linspace(low, high, count)
    angles = 2.0 * np.pi * np.arange(count) / count
    return np.column_stack([distances * np.cos(angles), distances * np.sin(angles)])


# --- fedsim ----------------------------------------------------------------------------------------


def has_rate_model() -> bool:
    """Whether this fedsim's radio section has the 3GPP link abstraction (``radio.rate_model``)."""
    return "rate_model" in {f.name for f in fields(RadioConfig)}


def fedsim_upload_times(positions_m, enb_position_m, radio: RadioConfig, payload_bytes: int, access: str = "fdma") -> tuple[np.ndarray, np.ndarray]:
    """Per-UE completion time (s) of ``payload_bytes`` in one fedsim round, and each UE's full-band SNR
    (linear; what ns-3's SRS sees): a World of exactly these UEs, all selected, under ``access``."""
    positions = np.asarray(positions_m, dtype=float)
    n = len(positions)
    config = WorldConfig(
        deployment=DeploymentConfig(num_devices=n, bs_position_m=tuple(enb_position_m)),
        radio=radio,
        access=AccessConfig(scheme=access),
    )
    world = World(config, Workload.green_qfl_paper(), seed=0)
    # The World drops its devices at random; the cross-check needs them where ns-3 has them, so
    # its motion is replaced by a static drop at these positions before the first round.
    world.motion = GroundMotion(positions, config, None)
    plan = RoundPlan(
        round=0,
        devices=np.arange(n),
        local_iters=np.ones(n, dtype=np.int64),
        train_bits=np.full(n, 8),
        uplink_bits=np.full(n, payload_bytes * 8.0),
    )
    outcome = world.simulate_round(plan)
    snr = outcome.tx_power_w * outcome.channel_gain / (radio.noise_psd_with_figure_w_hz * radio.bandwidth_hz)
    # Completion as ns-3 measures it: from the data being ready (training done) to its arrival,
    # the scheduler's grant delay included (the lte model's; none under shannon).
    ready_s = outcome.start_s + outcome.download_s + np.asarray(outcome.compute_s, dtype=float)
    return np.asarray(outcome.finish_s, dtype=float) - ready_s, np.asarray(snr, dtype=float)


# --- ns-3 ------------------------------------------------------------------------------------------


_NS = None
# Where the uplink scheduler reads each UE's SINR: the SRS (ns-3's default; sent over the whole
# band, so at the power spectral density of a full-band grant) or the UE's last PUSCH grants.
_UL_CQI_FILTERS = {"srs": "SRS_UL_CQI", "pusch": "PUSCH_UL_CQI"}


def import_ns3(workdir: Path):
    """ns-3's bindings (``from ns import ns``). The import searches the working directory
    recursively for ns-3 libraries, so it runs inside an empty one: a repository with another
    ns-3 build below it (or a large virtualenv) would conflict or be slow."""
    global _NS
    if _NS is None:
        with contextlib.chdir(workdir):
            from ns import ns  # noqa: PLC0415 - optional, heavy (cppyy compiles the bindings)
        _NS = ns
    return _NS


@dataclass
class Ns3Result:
    """One ns-3 run: per-UE completion time and delivered payload, and what the stack did."""

    completion_s: np.ndarray  # last datagram at the remote host minus start_s (inf: none arrived)
    delivered_bytes: np.ndarray  # UDP payload bytes that arrived
    sent_bytes: int  # UDP payload bytes each UE sent (payload rounded up to whole datagrams)
    stack: dict = field(default_factory=dict)  # per-UE MCS, TB bytes, HARQ failures, first grant
    wall_s: float = 0.0
    simulated_s: float = 0.0


def ns3_upload_times(
    positions_m,
    enb_position_m,
    bandwidth_prb: int,
    ue_tx_power_dbm: float,
    path_loss: tuple[float, float, float],
    payload_bytes: int,
    fading: None = None,
    *,
    noise_figure_db: float = 5.0,
    scheduler: str = "ns3::PfFfMacScheduler",
    ul_cqi: str = "srs",
    start_s: float = 0.5,
    step_s: float = 0.05,
    max_upload_s: float = 60.0,
    seed: int = 1,
    workdir: Path | None = None,
) -> Ns3Result:
    """Upload ``payload_bytes`` from every UE at ``positions_m`` to a remote host behind one eNB
    at ``enb_position_m`` through ns-3's LTE uplink and EPC; ``path_loss`` is the
    (exponent, d0 m, L0 dB) of :func:`log_distance_equivalent`; ``ul_cqi`` picks the SINR the
    uplink scheduler adapts the MCS to ("srs", ns-3's default, or "pusch"). Only ``fading=None`` is
    supported (ns-3's LTE fading is trace-driven; fedsim's Rayleigh blocks have no ns-3 twin).

    The simulation runs to ``start_s`` (attachment), then in ``step_s`` slices until every UE's
    datagrams arrived, nothing arrived for 0.5 s (RLC UM losses), or ``max_upload_s`` passed."""
    if fading is not None:
        raise ValueError("only fading=None is cross-checked (ns-3's LTE fading model is trace-driven)")
    workdir = Path(workdir or tempfile.mkdtemp(prefix="ns3_lte_"))
    ns = import_ns3(workdir)
    positions = np.asarray(positions_m, dtype=float)
    n = len(positions)
    datagrams = math.ceil(payload_bytes / DATAGRAM_BYTES)
    datagram_bytes = math.ceil(payload_bytes / datagrams)  # sent bytes exceed the payload by < 1 per datagram
    exponent, d0_m, l0_db = path_loss
    wall = time.perf_counter()

    ns.RngSeedManager.SetSeed(seed)
    ns.RngSeedManager.SetRun(1)
    cfg = ns.Config.SetDefault
    cfg("ns3::LteUePhy::EnableUplinkPowerControl", ns.BooleanValue(False))
    cfg("ns3::LteUePhy::TxPower", ns.DoubleValue(ue_tx_power_dbm))
    cfg("ns3::LteEnbPhy::NoiseFigure", ns.DoubleValue(noise_figure_db))
    cfg("ns3::LteRlcUm::MaxTxBufferSize", ns.UintegerValue(max(10 * payload_bytes, 1 << 20)))
    cfg("ns3::LteEnbRrc::EpsBearerToRlcMapping", ns.StringValue("RlcUmAlways"))
    cfg("ns3::FfMacScheduler::UlCqiFilter", ns.StringValue(_UL_CQI_FILTERS[ul_cqi]))
    cfg("ns3::MacStatsCalculator::UlOutputFilename", ns.StringValue(str(workdir / "UlMacStats.txt")))
    cfg("ns3::MacStatsCalculator::DlOutputFilename", ns.StringValue(str(workdir / "DlMacStats.txt")))
    cfg("ns3::PhyRxStatsCalculator::UlRxOutputFilename", ns.StringValue(str(workdir / "UlRxPhyStats.txt")))
    cfg("ns3::PhyRxStatsCalculator::DlRxOutputFilename", ns.StringValue(str(workdir / "DlRxPhyStats.txt")))
    cfg("ns3::PhyStatsCalculator::UlSinrFilename", ns.StringValue(str(workdir / "UlSinrStats.txt")))
    cfg("ns3::PhyStatsCalculator::UlInterferenceFilename", ns.StringValue(str(workdir / "UlInterferenceStats.txt")))
    cfg("ns3::PhyStatsCalculator::DlRsrpSinrFilename", ns.StringValue(str(workdir / "DlRsrpSinrStats.txt")))

    lte = ns.CreateObject[ns.LteHelper]()
    epc = ns.CreateObject[ns.PointToPointEpcHelper]()
    lte.SetEpcHelper(epc)
    lte.SetSchedulerType(scheduler)
    lte.SetAttribute("PathlossModel", ns.StringValue("ns3::LogDistancePropagationLossModel"))
    lte.SetPathlossModelAttribute("Exponent", ns.DoubleValue(exponent))
    lte.SetPathlossModelAttribute("ReferenceDistance", ns.DoubleValue(d0_m))
    lte.SetPathlossModelAttribute("ReferenceLoss", ns.DoubleValue(l0_db))
    lte.SetEnbDeviceAttribute("UlBandwidth", ns.UintegerValue(bandwidth_prb))
    lte.SetEnbDeviceAttribute("DlBandwidth", ns.UintegerValue(bandwidth_prb))

    # The remote host behind the PGW, on a link that adds no delay.
    remote = ns.NodeContainer()
    remote.Create(1)
    host = remote.Get(0)
    internet = ns.InternetStackHelper()
    internet.Install(remote)
    p2p = ns.PointToPointHelper()
    p2p.SetDeviceAttribute("DataRate", ns.DataRateValue(ns.DataRate("100Gb/s")))
    p2p.SetDeviceAttribute("Mtu", ns.UintegerValue(1500))
    p2p.SetChannelAttribute("Delay", ns.TimeValue(ns.Seconds(0.0)))
    sgi = p2p.Install(epc.GetPgwNode(), host)
    addresses = ns.Ipv4AddressHelper()
    addresses.SetBase(ns.Ipv4Address("1.0.0.0"), ns.Ipv4Mask("255.0.0.0"))
    host_address = addresses.Assign(sgi).GetAddress(1)
    routing = ns.Ipv4StaticRoutingHelper()
    routing.GetStaticRouting(host.GetObject[ns.Ipv4]()).AddNetworkRouteTo(ns.Ipv4Address("7.0.0.0"), ns.Ipv4Mask("255.0.0.0"), 1)

    enb_nodes, ue_nodes = ns.NodeContainer(), ns.NodeContainer()
    enb_nodes.Create(1)
    ue_nodes.Create(n)
    for nodes, points in ((enb_nodes, [tuple(enb_position_m)]), (ue_nodes, [tuple(p) for p in positions])):
        allocator = ns.CreateObject[ns.ListPositionAllocator]()
        for x, y in points:
            allocator.Add(ns.Vector(float(x), float(y), 0.0))
        mobility = ns.MobilityHelper()
        mobility.SetMobilityModel("ns3::ConstantPositionMobilityModel")
        mobility.SetPositionAllocator(allocator)
        mobility.Install(nodes)
    enb_devices = lte.InstallEnbDevice(enb_nodes)
    ue_devices = lte.InstallUeDevice(ue_nodes)
    internet.Install(ue_nodes)
    ue_interfaces = epc.AssignUeIpv4Address(ns.NetDeviceContainer(ue_devices))
    for i in range(n):
        ue_routing = routing.GetStaticRouting(ue_nodes.Get(i).GetObject[ns.Ipv4]())
        ue_routing.SetDefaultRoute(epc.GetUeDefaultGatewayAddress(), 1)
    # Fixed random streams (random access preambles, ...): a case gives the same numbers whichever
    # cases ran before it in this process.
    lte.AssignStreams(enb_devices, 0)
    lte.AssignStreams(ue_devices, 1_000)
    lte.Attach(ue_devices, enb_devices.Get(0))
    imsi = [int(ns.DynamicCast[ns.LteUeNetDevice](ue_devices.Get(i)).GetImsi()) for i in range(n)]

    port = 9
    server = ns.UdpServerHelper(port).Install(host)
    server.Start(ns.Seconds(0.0))
    client = ns.UdpClientHelper(host_address.ConvertTo(), port)
    client.SetAttribute("MaxPackets", ns.UintegerValue(datagrams))
    client.SetAttribute("Interval", ns.TimeValue(ns.NanoSeconds(1)))  # back to back: one burst
    client.SetAttribute("PacketSize", ns.UintegerValue(datagram_bytes))
    clients = client.Install(ue_nodes)
    clients.Start(ns.Seconds(start_s))

    flow_helper = ns.FlowMonitorHelper()
    monitor = flow_helper.Install(ue_nodes)
    flow_helper.Install(host)
    lte.EnableUlMacTraces()
    lte.EnableUlRxPhyTraces()
    lte.EnableUlPhyTraces()

    ue_of = {int(ue_interfaces.GetAddress(i).Get()): i for i in range(n)}
    classifier = ns.DynamicCast[ns.Ipv4FlowClassifier](flow_helper.GetClassifier())
    received = np.zeros(n, dtype=np.int64)
    last_rx_s = np.full(n, np.nan)

    def poll() -> None:
        for item in monitor.GetFlowStats():
            flow = classifier.FindFlow(item.first)
            ue = ue_of.get(int(flow.sourceAddress.Get()))
            if ue is None:  # not a UE's upload
                continue
            received[ue] = int(item.second.rxPackets)
            if received[ue]:
                last_rx_s[ue] = item.second.timeLastRxPacket.GetSeconds()

    ns.Simulator.Stop(ns.Seconds(start_s))
    ns.Simulator.Run()
    now = start_s
    last_progress_s, last_total = now, 0
    while now < start_s + max_upload_s:
        ns.Simulator.Stop(ns.Seconds(step_s))
        ns.Simulator.Run()
        now += step_s
        poll()
        total = int(received.sum())
        if total == n * datagrams:
            break
        if total > last_total:
            last_progress_s, last_total = now, total
        elif now - last_progress_s > 0.5 and total > 0:  # UM lost the rest for good
            break
    simulated = ns.Simulator.Now().GetSeconds()
    ns.Simulator.Destroy()
    stack = _stack_summary(workdir, imsi, start_s)
    completion = np.where(received > 0, last_rx_s - start_s, np.inf)
    return Ns3Result(completion, received * datagram_bytes, datagrams * datagram_bytes, stack, time.perf_counter() - wall, simulated)


def _read_trace(path: Path) -> list[dict[str, str]]:
    """An ns-3 LTE stats file: tab-separated rows under a '% name\\tname...' header."""
    if not path.is_file():
        return []
    with path.open() as handle:
        header = handle.readline().lstrip("%").split()
        return [dict(zip(header, row)) for row in csv.reader(handle, delimiter="\t") if row]


def _stack_summary(workdir: Path, imsi: list[int], start_s: float) -> dict:
    """Per UE (in position order): the first uplink grant after start_s (s), the span of TTIs
    from its first to its last received transport block (s), the new transport
    blocks the eNB received (count, mean MCS, bytes), the receptions that failed (HARQ), and the
    SINR ns-3 measured on the SRS (spread over the whole band; dB, median)."""
    grants = _read_trace(workdir / "UlMacStats.txt")
    rx = _read_trace(workdir / "UlRxPhyStats.txt")
    sinr = _read_trace(workdir / "UlSinrStats.txt")
    keys = ("first_grant_s", "on_air_s", "new_tbs", "mean_mcs", "tb_bytes", "harq_failures", "rx_tbs", "sinr_db")
    out: dict[str, list] = {k: [] for k in keys}
    for ue in imsi:
        mine = [g for g in grants if int(g["IMSI"]) == ue and float(g["time"]) >= start_s]
        phy = [r for r in rx if int(r["IMSI"]) == ue and float(r["time"]) / 1e3 >= start_s]  # this file is in ms
        new = [r for r in phy if int(r["ndi"]) == 1]
        out["first_grant_s"].append(min(float(g["time"]) for g in mine) - start_s if mine else math.nan)
        # From the first to the end of the last TTI in which the eNB received one of its TBs.
        rx_ms = [float(r["time"]) for r in phy]
        out["on_air_s"].append((max(rx_ms) - min(rx_ms) + 1.0) / 1e3 if rx_ms else math.nan)
        out["new_tbs"].append(len(new))
        out["mean_mcs"].append(statistics.fmean(int(r["mcs"]) for r in new) if new else math.nan)
        out["tb_bytes"].append(sum(int(r["size"]) for r in new))
        out["harq_failures"].append(sum(1 for r in phy if int(r["correct"]) == 0))
        out["rx_tbs"].append(len(phy))
        values = [float(s["sinrLinear"]) for s in sinr if int(s["IMSI"]) == ue and float(s["time"]) >= start_s]
        out["sinr_db"].append(10.0 * math.log10(statistics.median(values)) if values else math.nan)
    return out


# --- the comparison --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    ues: int
    band: str
    payload_bytes: int


def default_cases(quick: bool) -> list[Case]:
    if quick:  # the slow test's case: two UEs, the digits update
        return [Case(2, "mixed", DIGITS_MLP_UPDATE_BYTES)]
    cases = []
    for payload in (DIGITS_MLP_UPDATE_BYTES, LARGE_UPDATE_BYTES):
        for ues in (1, 5, 20):
            for band in ("near", "far") if ues == 1 else ("near", "far", "mixed"):
                cases.append(Case(ues, band, payload))
    return cases


def _median_ratio(numerator: np.ndarray, denominator: np.ndarray) -> float:
    ratio = np.asarray(numerator, float) / np.asarray(denominator, float)
    return float(np.median(ratio))


def run_case(case: Case, args: argparse.Namespace, workdir: Path) -> dict:
    positions = band_positions(case.ues, DISTANCE_BANDS_M[case.band])
    enb = (0.0, 0.0)
    radio = comparison_radio(args.prb, args.power_dbm, args.noise_figure_db)
    shannon_s, snr = fedsim_upload_times(positions, enb, radio, case.payload_bytes, access="fdma")
    lte_s = subband_s = None
    if has_rate_model():
        # lte: link adaptation as ns-3's uplink AMC does it, the SNR-gap rule at BER 5e-5 on the
        # SINR its scheduler reads (srs: the wideband sounding SINR; pusch: the UE's own
        # sub-band); lte subband: fedsim's defaults (a 10% BLER target on the sub-band SINR).
        matched = replace(radio, rate_model="lte", link_adaptation="wideband" if args.ul_cqi == "srs" else "subband",
                          snr_gap_db=NS3_SNR_GAP_DB)
        try:
            lte_s, _ = fedsim_upload_times(positions, enb, matched, case.payload_bytes)
            subband_s, _ = fedsim_upload_times(positions, enb, replace(radio, rate_model="lte"), case.payload_bytes)
            lte_note = ""
        except Exception as error:  # say why, never fake a number
            lte_s = subband_s = None
            lte_note = f"error: {type(error).__name__}: {error}"
    else:
        lte_note = "pending (radio.rate_model not in this fedsim)"
    case_dir = workdir / f"n{case.ues}_{case.band}_{case.payload_bytes}"
    case_dir.mkdir(parents=True, exist_ok=True)
    ns3 = ns3_upload_times(
        positions, enb, args.prb, args.power_dbm, log_distance_equivalent(radio), case.payload_bytes,
        noise_figure_db=args.noise_figure_db, ul_cqi=args.ul_cqi, workdir=case_dir, seed=args.seed,
    )
    distances = np.hypot(positions[:, 0], positions[:, 1])
    row = {
        "ues": case.ues,
        "band": case.band,
        "payload_bytes": case.payload_bytes,
        "distance_m": distances.round(1).tolist(),
        "ns3_s": ns3.completion_s.tolist(),
        "ns3_delivered_fraction": (ns3.delivered_bytes / ns3.sent_bytes).tolist(),
        "shannon_s": shannon_s.tolist(),
        "fedsim_full_band_snr_db": (10.0 * np.log10(snr)).round(2).tolist(),
        "lte_s": None if lte_s is None else lte_s.tolist(),
        "lte_note": lte_note,
        "ratio_shannon": _median_ratio(shannon_s, ns3.completion_s),
        "ratio_lte": None if lte_s is None else _median_ratio(lte_s, ns3.completion_s),
        "lte_subband_s": None if subband_s is None else subband_s.tolist(),
        "ratio_lte_subband": None if subband_s is None else _median_ratio(subband_s, ns3.completion_s),
        "stack": ns3.stack,
        "ns3_wall_s": round(ns3.wall_s, 2),
        "ns3_simulated_s": round(ns3.simulated_s, 3),
    }
    return row


def _fmt(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "pending"
    return "inf" if not math.isfinite(value) else f"{value:.{digits}f}"


def print_table(rows: list[dict]) -> None:
    print(f"{'N':>3} {'band':>6} {'payload':>8} {'ns-3 s':>9} {'deliv':>6} {'shannon s':>10} {'lte s':>9} "
          f"{'sh/ns3':>7} {'lte/ns3':>8} {'sub/ns3':>9} {'1st grant ms':>12} {'TB span s':>9} {'MCS':>5} {'SNR dB ns3 SRS|fedsim':>21} {'HARQ fail':>9} {'TB/payload':>10} {'TBs/UE':>6} {'wall s':>7}")
    for r in rows:
        stack = r["stack"]
        tb_ratio = statistics.fmean(stack["tb_bytes"]) / r["payload_bytes"]
        lte_median = None if r["lte_s"] is None else statistics.median(r["lte_s"])
        harq = sum(stack["harq_failures"]) / max(sum(stack["rx_tbs"]), 1)
        print(
            f"{r['ues']:>3} {r['band']:>6} {r['payload_bytes']:>8} {_fmt(statistics.median(r['ns3_s'])):>9} "
            f"{min(r['ns3_delivered_fraction']):>6.3f} {_fmt(statistics.median(r['shannon_s'])):>10} {_fmt(lte_median):>9} "
            f"{r['ratio_shannon']:>7.3f} {_fmt(r['ratio_lte'], 3):>8} {_fmt(r['ratio_lte_subband'], 3):>9} {1e3 * np.nanmedian(stack['first_grant_s']):>12.1f} {np.nanmedian(stack['on_air_s']):>9.4f} "
            f"{np.nanmean(stack['mean_mcs']):>5.1f} {np.nanmedian(stack['sinr_db']):>11.1f}|{np.median(r['fedsim_full_band_snr_db']):>9.1f} "
            f"{harq:>9.3f} {tb_ratio:>10.3f} {statistics.fmean(stack['new_tbs']):>6.1f} {r['ns3_wall_s']:>7.1f}"
        )
    notes = {r["lte_note"] for r in rows if r["lte_note"]}
    for note in sorted(notes):
        print(f"lte column: {note}")
    print("lte/ns3: radio.rate_model=lte with ns-3's link adaptation (radio.snr_gap_db=7.43 on the SINR its scheduler reads; "
          "--ul-cqi srs: radio.link_adaptation=wideband); sub/ns3: radio.rate_model=lte at fedsim's defaults "
          "(10% BLER target on the sub-band SINR)")


def summary(rows: list[dict]) -> dict:
    """Median over every UE of every case with N UEs of fedsim/ns-3, per rate model."""
    result: dict[str, dict[str, float | None]] = {"shannon": {}, "lte": {}, "lte_subband": {}}
    for ues in sorted({r["ues"] for r in rows}):
        mine = [r for r in rows if r["ues"] == ues]
        ns3 = np.concatenate([r["ns3_s"] for r in mine])
        result["shannon"][str(ues)] = _median_ratio(np.concatenate([r["shannon_s"] for r in mine]), ns3)
        lte = [r["lte_s"] for r in mine]
        result["lte"][str(ues)] = None if any(x is None for x in lte) else _median_ratio(np.concatenate(lte), ns3)
        subband = [r["lte_subband_s"] for r in mine]
        result["lte_subband"][str(ues)] = None if any(x is None for x in subband) else _median_ratio(np.concatenate(subband), ns3)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one small case (2 UEs, the digits update): the slow test")
    parser.add_argument("--prb", type=int, default=50, help="uplink resource blocks (50 = a 10 MHz carrier)")
    parser.add_argument("--power-dbm", type=float, default=20.0, help="UE transmit power, fixed (fedsim's 0.1 W)")
    parser.add_argument("--noise-figure-db", type=float, default=5.0, help="eNB noise figure (ns-3's default)")
    parser.add_argument("--ul-cqi", choices=sorted(_UL_CQI_FILTERS), default="srs", help="the SINR ns-3's uplink scheduler adapts the MCS to (srs: its default)")
    parser.add_argument("--seed", type=int, default=1, help="ns-3's RngSeedManager seed")
    parser.add_argument("--only", default=None, help="run the cases 'N:band:payload,...' instead of the default grid")
    parser.add_argument("--rows", type=Path, default=None, help="also write every row (per-UE numbers) to this JSON file")
    args = parser.parse_args(argv)
    loads = print_load_average()
    if args.only:
        cases = [Case(int(a), b, int(c)) for a, b, c in (item.split(":") for item in args.only.split(","))]
    else:
        cases = default_cases(args.quick)
    workdir = Path(tempfile.mkdtemp(prefix="ns3_lte_"))
    started = time.perf_counter()
    import_ns3(workdir)
    print(f"ns-3 bindings imported in {time.perf_counter() - started:.1f} s", flush=True)
    rows = []
    for case in cases:
        rows.append(run_case(case, args, workdir))
        print(f"  case N={case.ues} {case.band} {case.payload_bytes} B: ns-3 {rows[-1]['ns3_wall_s']} s wall", flush=True)
    print_table(rows)
    if args.rows:
        args.rows.write_text(json.dumps(rows, indent=1))
    result = {
        "median_ratio_fedsim_over_ns3": summary(rows),
        "cases": len(rows),
        "ns3_ul_cqi": args.ul_cqi,
        "lte_available": has_rate_model(),
        "load_average_at_start": [round(x, 2) for x in loads],
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
