"""Every fenced block of the docs and the README: checked cheaply by default, executed with -m slow
(the convention is in docs_harness.py)."""

from __future__ import annotations

import pytest

from docs_harness import check_text, page_id, pages, run_text

PAGES = pages()


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_page_blocks_check(page):
    problems = check_text(page.read_text(encoding="utf-8"), page_id(page))
    assert not problems, "\n".join(problems)


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_page_blocks_run(page, tmp_path):
    failure = run_text(page.read_text(encoding="utf-8"), page_id(page), tmp_path)
    assert failure is None, failure
