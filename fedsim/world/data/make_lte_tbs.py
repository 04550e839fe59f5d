"""Generate lte_tbs.csv: TS 36.213 Table 7.1.7.2.1-1, the LTE transport block sizes (bits) for
I_TBS = 0..26 (rows) and N_PRB = 1..110 (columns).

The table is typed out in ns-3's LTE module (LteAmc, src/lte/model/lte-amc.cc), which this script
queries through the ``ns3`` wheel from PyPI, in its own virtual environment (fedsim does not
depend on ns-3):

    python -m venv /tmp/ns3venv && /tmp/ns3venv/bin/pip install ns3
    /tmp/ns3venv/bin/python fedsim/world/data/make_lte_tbs.py   # the first ns-3 import takes ~90 s

LteAmc::GetDlTbSizeFromMcs(mcs, nprb) reads the table at I_TBS = the PDSCH MCS -> I_TBS mapping
of TS 36.213 Table 7.1.7.1-1 (ns-3's McsToItbsDl), so every I_TBS is reached by the lowest MCS
that maps to it. tests/world/test_rate_model.py checks entries of the result against the spec.
"""

from pathlib import Path

# TS 36.213 Table 7.1.7.1-1: I_MCS 0-9 -> I_TBS 0-9, 10-16 -> 9-15, 17-28 -> 15-26; the lowest
# I_MCS of each I_TBS.
MCS_FOR_ITBS = list(range(0, 10)) + list(range(11, 17)) + list(range(18, 29))


def main() -> None:
    from ns import ns

    amc = ns.CreateObject[ns.LteAmc]()
    assert len(MCS_FOR_ITBS) == 27
    rows = [[amc.GetDlTbSizeFromMcs(mcs, nprb) for nprb in range(1, 111)] for mcs in MCS_FOR_ITBS]
    out = Path(__file__).with_name("lte_tbs.csv")
    header = "# TS 36.213 Table 7.1.7.2.1-1: LTE TBS (bits); row = I_TBS 0..26, column = N_PRB 1..110 (make_lte_tbs.py)\n"
    out.write_text(header + "".join(",".join(str(v) for v in row) + "\n" for row in rows))
    print(f"wrote {out} (27 x 110)")


if __name__ == "__main__":
    main()
