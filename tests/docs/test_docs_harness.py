"""The docs harness itself: the parser, the annotations, the checks and the runner."""

from __future__ import annotations

from docs_harness import check_text, fedsim_commands, parse, run_text

PAGE = """# A page

Some prose.

```python
import json
x = 1
```

<!-- docs: exit=2 -->
```bash
fedsim run radio.tx_power_w=-1
```

<!-- docs: check-only (needs a GPU) -->
```bash
fedsim run engine=cohort \\
  rounds=3
```

- a list item with an indented block:

    ```yaml
    rounds: 3
    ```

```text
output, never executed
```
"""


def test_parser_reads_languages_lines_and_annotations():
    blocks, problems = parse(PAGE, "p.md")
    assert problems == []
    assert [(b.lang, b.line, b.mode, b.exit) for b in blocks] == [
        ("python", 5, "run", 0), ("bash", 11, "run", 2), ("bash", 16, "check-only", 0), ("yaml", 23, "run", 0), ("text", 27, "run", 0),
    ]
    assert blocks[0].source == "import json\nx = 1\n"
    assert blocks[2].reason == "needs a GPU"
    assert blocks[3].source == "rounds: 3\n"  # the list item's indent removed
    assert [b.executed for b in blocks] == [True, True, False, False, False]


def test_bad_annotations_are_problems():
    text = "<!-- docs: check-only -->\n```bash\ntrue\n```\n<!-- docs: run-twice -->\n```bash\ntrue\n```\n<!-- docs: skip () -->\n```python\n```\n"
    _, problems = parse(text, "p.md")
    assert len(problems) == 3
    assert "`check-only` needs a reason" in problems[0] and problems[0].startswith("p.md:1:")
    assert "unknown annotation 'run-twice'" in problems[1]
    assert "`skip` needs a reason" in problems[2]


def test_an_annotation_away_from_a_fence_and_a_block_without_language_are_problems():
    _, problems = parse("<!-- docs: exit=2 -->\n\n```bash\nfalse\n```\n```\nplain\n```\n", "p.md")
    assert problems[0] == "p.md:1: an annotation must be on the line right above a fence"
    assert "p.md:6: a fenced block needs one of the languages" in problems[1]
    _, problems = parse("<!-- docs: exit=1 -->\n```python\nraise SystemExit(1)\n```\n", "p.md")
    assert problems == ["p.md:2: exit=1 applies to bash blocks only"]


def test_fedsim_commands_are_found_with_their_overrides():
    source = "set -x\nfedsim run rounds=2 'radio.tx_power_w=0.2' > out.txt 2>&1\nOMP=1 fedsim run -m seed=0,1 hydra.run.dir=x && echo ok\n" \
             "fedsim reproduce kim2023_green_qfl rounds=2 | tail -1\nfedsim plot outputs\n"
    assert fedsim_commands(source) == [
        ("fedsim run rounds=2 radio.tx_power_w=0.2", ["rounds=2", "radio.tx_power_w=0.2"], False),
        ("fedsim run -m seed=0,1 hydra.run.dir=x", ["seed=0,1"], True),
        ("fedsim reproduce kim2023_green_qfl rounds=2", ["scenario=kim2023_green_qfl", "rounds=2"], False),
    ]


def test_a_bad_override_fails_the_check_and_an_annotated_one_passes():
    bad = "```bash\nfedsim run rounds=2 radio.tx_power_w=-1\n```\n"
    problems = check_text(bad, "p.md")
    assert len(problems) == 1 and problems[0].startswith("p.md:1: `fedsim run rounds=2 radio.tx_power_w=-1` is refused")
    assert "radio.tx_power_w=-1.0 is not allowed" in problems[0]
    assert check_text("<!-- docs: exit=2 -->\n" + bad, "p.md") == []
    # exit=2 on commands that all compose is a wrong annotation
    problems = check_text("<!-- docs: exit=2 -->\n```bash\nfedsim run -m rounds=2 seed=0,1\n```\n", "p.md")
    assert problems == ["p.md:2: annotated exit=2 (bad input), but every fedsim command in it composes"]
    assert check_text("<!-- docs: exit=1 -->\n```bash\nfedsim run rounds=2\n```\n", "p.md") == []  # a run that fails
    assert check_text("```bash\nfedsim run -m seed=0,1 op.train_bits=4,40\n```\n", "p.md")[0].startswith("p.md:1: `fedsim run -m")


def test_python_yaml_and_bash_syntax_are_checked():
    problems = check_text("```python\nimport fedsim_no_such_module\nx = (\n```\n", "p.md")
    assert problems[0].startswith("p.md:1: python does not compile")
    problems = check_text("```python\nimport fedsim_no_such_module\n```\n", "p.md")
    assert problems[0].startswith("p.md:1: `import fedsim_no_such_module` fails: ModuleNotFoundError")
    # a module the page writes itself (its file name is on the page) is not imported by the check
    assert check_text("```bash\ncat > mymodel.py <<'X'\nX\n```\n```python\nimport mymodel\n```\n", "p.md") == []
    assert check_text("```yaml\na: [1, 2\n```\n", "p.md")[0].startswith("p.md:1: yaml does not parse")
    assert check_text("```bash\nif true; then\n```\n", "p.md")[0].startswith("p.md:1: bash does not parse")


def test_a_page_runs_in_order_in_one_directory_and_a_failure_names_its_block(tmp_path):
    page = ("```bash\necho 41 > n.txt\n```\n```python\nn = int(open('n.txt').read())\n```\n"
            "```python\nassert n + 1 == 42\nimport os; print(os.environ['MPLBACKEND'])\n```\n"
            "<!-- docs: exit=3 -->\n```bash\nexit 3\n```\n<!-- docs: check-only (never runs) -->\n```bash\nexit 1\n```\n")
    assert run_text(page, "p.md", tmp_path / "ok") is None
    failing = "```python\nx = 1\n```\n```bash\necho before >&2\nfalse\necho never\n```\n"
    failure = run_text(failing, "p.md", tmp_path / "bad")
    assert failure.startswith("p.md:4: this bash block ended with status 1, expected 0")
    assert failure.endswith("before")
    failure = run_text("```python\n\nraise ValueError('boom')\n```\n", "p.md", tmp_path / "raise")
    assert failure.startswith("p.md:1: this python block ended with status 1")
    assert 'File "p.md", line 3' in failure and "ValueError: boom" in failure  # the page's own line


def test_a_page_that_runs_too_long_is_stopped_and_named(tmp_path):
    failure = run_text("```bash\ntrue\n```\n```bash\nsleep 30\n```\n", "p.md", tmp_path, timeout_s=2)
    assert failure.startswith("p.md:4: the page timed out after 2 s in this bash block")
