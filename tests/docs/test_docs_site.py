"""The site's structure: the nav and the pages agree, the generated references match the code."""

from __future__ import annotations

import importlib.util

import yaml

from docs_harness import ROOT

DOCS = ROOT / "docs"


def _nav_files(nav) -> list[str]:
    out = []
    for entry in nav:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        out += _nav_files(value) if isinstance(value, list) else [value]
    return out


def _generator():
    spec = importlib.util.spec_from_file_location("gen_reference", DOCS / "gen_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_page_is_in_the_nav_and_every_nav_entry_exists():
    nav = _nav_files(yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))["nav"])
    pages = sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md"))
    assert sorted(set(nav)) == sorted(nav), "a page is in the nav twice"
    assert sorted(set(pages) - set(nav)) == [], "pages missing from mkdocs.yml's nav"
    assert sorted(set(nav) - set(pages)) == [], "nav entries without a page under docs/"


def test_generated_references_match_the_code():
    generator = _generator()
    stale = generator.stale_pages()
    assert stale == [], f"{', '.join(stale)} out of date: run {generator.COMMAND}"


def test_every_drop_reason_and_ledger_column_is_described():
    from fedsim import ledger
    from fedsim.world import ASYNC_DROP_REASONS, DROP_REASONS

    generator = _generator()
    assert set(DROP_REASONS) | set(ASYNC_DROP_REASONS) <= set(generator.DROP_REASON_MEANINGS), "describe it in DROP_REASON_MEANINGS"
    for schema in (ledger.RoundRow, ledger.DeviceRow):
        described = generator.docstring_attributes(schema)
        missing = [f.name for f in schema.__dataclass_fields__.values() if f.name not in described]
        assert missing == [], f"{schema.__name__}'s docstring (Attributes) does not describe {missing}"
    summary = generator.docstring_bullets(ledger.Ledger.summary.__doc__)
    probe = ledger.Ledger(None)
    zero = {name: 0 for name in ledger.ROUND_COLUMNS}
    probe.record_round(ledger.RoundRow(**zero), [])
    assert sorted(set(probe.summary(0.5)) - set(summary)) == [], "Ledger.summary's docstring does not list these keys"


def test_the_generator_reads_units_and_allowed_values_from_the_code():
    generator = _generator()
    assert [generator.unit_of(k) for k in ("tx_power_w", "noise_psd_dbm_hz", "macs_per_s", "speed_mps", "num_devices")] == [
        "W", "dBm/Hz", "macs/s", "m/s", ""]
    page = generator.render_configuration()
    # the validator's own words (fedsim._checks), a choice tuple, and a default from the schema
    assert "| `radio.tx_power_w` | float | `0.1` | W | a number in (0, inf) |" in page
    assert "| `radio.fading` | str | `rayleigh` |  | one of " in page
    assert "| `op.train_bits` | int | `8` | bits | an integer in [1, 32] |" in page
    assert "| `world.deadline_s` | float \\| null | `null` | s | a number in (0, inf) |" in page


def test_the_kernels_page_documents_every_export():
    import fedsim_kernels

    text = (DOCS / "reference" / "api" / "kernels.md").read_text(encoding="utf-8")
    missing = [name for name in fedsim_kernels._EXPORTS if f"- {name}\n" not in text]
    assert missing == [], f"docs/reference/api/kernels.md does not list {missing}"
