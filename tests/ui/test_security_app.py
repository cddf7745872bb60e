"""The app shows outside text as text, and holds uploads to the intake's cap (issue 21, cases
2 and 14).

Words read on a cover, catalogue genres and sources, file names and run folders reach the
pages; Streamlit renders captions, labels, notes and ``st.markdown`` as Markdown, so such text
passes :func:`sleeve.ui.app.ui.plain` first. A static test holds every page to that; the page
tests (tests/ui/test_app.py, tests/ui/test_app_text.py) feed a cover whose words are a Markdown
image and check
that the page carries the words escaped, and a CommonMark renderer shows escaped text as the
very same text: no image, link or markup (no browser here: /usr/bin/chromium is absent).
"""

from __future__ import annotations

import ast
import math
from pathlib import Path

import pytest

from sleeve.ui.app.launcher import app_command, upload_cap_mb
from sleeve.ui.app.ui import code, plain
from tests.conftest import fast_settings

ROOT = Path(__file__).resolve().parents[2]
# Markdown an attacker can print on a cover or put in a name
HOSTILE = [
    "![x](http://127.0.0.1:9/pixel.png)",
    "[click](http://127.0.0.1:9/)",
    "<img src=http://127.0.0.1:9/p.png>",
    "**bold** _it_ `code` ~~gone~~",
    "# heading",
    "> quote\n- item",
    ":red[alarm] $x^2$",
    "a\\![y](http://127.0.0.1:9/q.png)",  # a backslash of its own does not undo the escape
    "| a | b |\n|---|---|\n| 1 | 2 |",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_security_plain_text_renders_as_the_same_text(text: str) -> None:
    markdown_it = pytest.importorskip("markdown_it")
    html = markdown_it.MarkdownIt("commonmark").enable("table").enable("strikethrough")
    rendered = html.render(plain(text))
    assert rendered.startswith("<p>") and rendered.count("<") == 2, rendered  # one paragraph
    assert html.renderInline(plain(text)) == _html_escape(" ".join(text.split("\n")))


@pytest.mark.parametrize("text", [*HOSTILE, "`x`", "a ``` b", "/data/run `1`"])
def test_security_code_spans_show_their_text_verbatim(text: str) -> None:
    markdown_it = pytest.importorskip("markdown_it")
    inline = markdown_it.MarkdownIt("commonmark").renderInline(code(text))
    assert inline == f"<code>{_html_escape(' '.join(text.splitlines()))}</code>"


def _html_escape(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


# -- the static rule: every Markdown-rendering call gets literals or plain() ----------------------

# Streamlit calls that render their text argument(s) as Markdown
MARKDOWN_CALLS = {
    "markdown", "caption", "write", "title", "header", "subheader", "expander", "info",
    "warning", "error", "success", "toast", "metric", "tabs", "button", "selectbox", "radio",
    "multiselect", "slider", "text_input", "number_input", "file_uploader", "checkbox",
    "popover", "image", "toggle", "text_area", "select_slider", "pills", "segmented_control",
    "download_button", "link_button", "page_link", "chat_message", "status", "dialog",
}  # fmt: skip
TEXT_KEYWORDS = {"caption", "label", "help", "body", "placeholder"}
# sleeve.ui.app.ui's escapes, and calls that yield a number (a number carries no Markdown)
_SAFE_CALLS = {"plain", "code", "len", "int", "round", "_fmt"}


def _safe(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.Name):  # a module constant of the page (MAX_THUMBNAILS)
        return node.id.isupper()
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return node.func.id in _SAFE_CALLS
    if isinstance(node, ast.JoinedStr):
        return all(
            isinstance(v, ast.Constant)
            or (isinstance(v, ast.FormattedValue) and (v.format_spec is not None or _safe(v.value)))
            for v in node.values
        )
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _safe(node.left) and _safe(node.right)
    if isinstance(node, ast.IfExp):
        return _safe(node.body) and _safe(node.orelse)
    if isinstance(node, ast.List | ast.Tuple):
        return all(_safe(e) for e in node.elts)
    return False


def _is_path(node: ast.expr) -> bool:
    return (isinstance(node, ast.Constant) and isinstance(node.value, str)) or (
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "str"
    )


def _unsafe_calls(tree: ast.Module) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func.body if isinstance(node.func, ast.IfExp) else node.func
        if not isinstance(func, ast.Attribute):
            continue
        name = func.attr
        if name not in MARKDOWN_CALLS:
            continue
        # st.image's first argument is the picture: never a path, which Streamlit would
        # decode itself (figures pass sleeve.ui.app.data.figure_png, covers the thumbnails)
        if name == "image" and node.args and _is_path(node.args[0]):
            found.append((node.lineno, "image path"))
        texts = [] if name == "image" else node.args[:1]
        texts += [k.value for k in node.keywords if k.arg in TEXT_KEYWORDS]
        found += [(node.lineno, name) for t in texts if not _safe(t)]
    return found


def test_security_every_app_text_is_a_literal_or_plain() -> None:
    unsafe = {
        path.name: lines
        for path in sorted((ROOT / "sleeve" / "ui" / "app").glob("*.py"))
        if (lines := _unsafe_calls(ast.parse(path.read_text(encoding="utf-8"))))
    }
    assert unsafe == {}, "pass text from outside through sleeve.ui.app.ui.plain()"


def test_the_static_rule_catches_outside_text() -> None:
    tree = ast.parse(
        "st.markdown(words)\ncol.image(x, caption=f'{row.genre}')\nst.caption(f'{n:.0%}')\n"
        "st.error(f'Cannot use {plain(p)}')\nst.info(str(exc))\n"
        "(st.success if ok else st.error)(message)\nst.caption(f'{code(path)} {MAX}')\n"
        "st.image(str(png))\n"
    )
    assert _unsafe_calls(tree) == [
        (1, "markdown"), (2, "image"), (5, "info"), (6, "success"), (8, "image path"),
    ]  # fmt: skip


# -- 14: the upload cap ---------------------------------------------------------------------------


def test_security_streamlit_gets_the_intake_upload_cap(tmp_path: Path) -> None:
    for cap in (15 * 1024 * 1024, 1024, 5 * 1024 * 1024 + 1):  # 1024: the smallest cap allowed
        settings = fast_settings(tmp_path, max_image_bytes=cap)
        cmd = app_command(8765, headless=True, settings=settings)
        flag = cmd.index("--server.maxUploadSize")
        assert int(cmd[flag + 1]) == upload_cap_mb(settings) == max(1, math.ceil(cap / 2**20))


def test_security_figures_from_a_run_folder_pass_the_intake(tmp_path: Path) -> None:
    """Confusion matrices, trees and cluster strips are files in folders anyone may have
    written: a strip, an HTML page or a path outside stays off the page."""
    from sleeve.ui.app.data import figure_png
    from tests.images import bomb_png, png

    cases = {"strip.png": bomb_png(20000, 1), "page.png": b"<html>hi</html>", "ok.png": png()}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    assert figure_png(tmp_path / "strip.png") is None
    assert figure_png(tmp_path / "page.png") is None
    assert figure_png(tmp_path / "missing.png") is None
    assert figure_png(tmp_path / "ok.png") == cases["ok.png"]
