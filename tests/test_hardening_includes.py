"""Issue 20, includes stay home: a rules file's `include:` of test cases reads regular files in
its own folder or below it; anything else is an error at the include's line (exit 2 for `test`,
a listed problem for `validate`), never a read of another file, a hang or an internal error.
Through the real entry point, on real-looking files."""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path

from conftest import CHANGES, OK, ROOT, USAGE, invoke_assert_code

# --------------------------------------------------------------------------- includes stay home


def rules_including(folder: Path, pattern: str) -> tuple[Path, int]:
    """The default rules, their cases copied beside them, with the include line naming `pattern`."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copytree(ROOT / "rule_cases", folder / "rule_cases")
    text = (ROOT / "rules.yaml").read_text(encoding="utf-8")
    old = "  - include: rule_cases/*.yaml\n"
    assert old in text
    path = folder / "rules.yaml"
    path.write_text(text.replace(old, f"  - include: {json.dumps(pattern)}\n"), encoding="utf-8")
    line = text[: text.index(old)].count("\n") + 1
    return path, line


def assert_refused(rules: Path, line: int, *words: str) -> None:
    """`lifecycle test` stops (exit 2) and `lifecycle validate` lists the problem (exit 1), both
    at the include's line; neither hangs (the subprocess has a timeout) nor fails inside
    (exit 3)."""
    run = invoke_assert_code(USAGE, "test", "rules.yaml", cwd=rules.parent)
    assert f"lifecycle: error: rules.yaml:{line}: include " in run.stderr, run.stderr
    for word in words:
        assert word in run.stderr, run.stderr
    out = invoke_assert_code(CHANGES, "validate", "rules.yaml", cwd=rules.parent).stdout
    assert f"rules.yaml:{line}: error: include " in out and "Traceback" not in out


def test_an_absolute_include_is_refused(tmp_path: Path) -> None:
    rules, line = rules_including(tmp_path / "rules", str(ROOT / "rule_cases" / "*.yaml"))
    assert_refused(rules, line, "is an absolute path", "relative to the folder of rules.yaml")


def test_an_include_leading_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "secret.yaml").write_text("- name: not yours\n", encoding="utf-8")
    rules, line = rules_including(tmp_path / "rules", "../*.yaml")
    assert_refused(rules, line, "outside the folder of rules.yaml")
    rules, line = rules_including(tmp_path / "again" / "deeper", "../../secret.yaml")
    assert_refused(rules, line, "outside the folder of rules.yaml")


def test_a_link_leading_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    rules, line = rules_including(tmp_path / "rules", "rule_cases/*.yaml")
    (tmp_path / "elsewhere.yaml").write_text("[]\n", encoding="utf-8")
    os.symlink(tmp_path / "elsewhere.yaml", tmp_path / "rules" / "rule_cases" / "zz.yaml")
    assert_refused(rules, line, "outside the folder of rules.yaml")


def test_a_named_pipe_is_refused_without_hanging(tmp_path: Path) -> None:
    rules, line = rules_including(tmp_path / "rules", "rule_cases/*.yaml")
    os.mkfifo(tmp_path / "rules" / "rule_cases" / "pipe.yaml")
    done = threading.Event()

    # If lifecycle opened the pipe, it would wait for a writer: be that writer after a while, so a
    # regression fails this test instead of hanging the suite.
    def unblock() -> None:
        if not done.wait(60):
            with open(tmp_path / "rules" / "rule_cases" / "pipe.yaml", "w") as fh:
                fh.write("[]\n")

    threading.Thread(target=unblock, daemon=True).start()
    try:
        assert_refused(rules, line, "which is a named pipe")
    finally:
        done.set()


def test_a_folder_is_refused(tmp_path: Path) -> None:
    rules, line = rules_including(tmp_path / "rules", "rule_cases/*")
    (tmp_path / "rules" / "rule_cases" / "more").mkdir()
    assert_refused(rules, line, "which is a folder")


def test_includes_inside_the_folder_still_work(tmp_path: Path) -> None:
    rules, _ = rules_including(tmp_path / "rules", "rule_cases/../rule_cases/*.yaml")
    run = invoke_assert_code(OK, "test", rules, "-q", cwd=tmp_path)
    assert "failed" not in run.stdout and " passed in " in run.stdout
    invoke_assert_code(OK, "validate", rules, cwd=tmp_path)
