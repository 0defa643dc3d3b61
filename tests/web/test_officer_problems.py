"""The pack check's and the debunk import's English problems, put into the officer's language:
every sentence shape screening and rumours write is known (a new one fails here until it is),
and the parts taken from the file are kept as written."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import qunguan
from qunguan.kernel.errors import QunguanError
from qunguan.screening.actions import check_pack
from qunguan.web.i18n import gettext_for
from qunguan.web.officer.problems import IMPORT_SHAPES, POLICY_SHAPES, import_problem, pack_problem

SRC = Path(qunguan.__file__).parent
zh = gettext_for("zh_CN")
en = gettext_for("en")


def _literal_shapes(path: Path, call: str) -> list[str]:
    """The messages passed to ``call`` in ``path``: f-strings with each {expression} shown
    as ``{}``, so that a shape is known whatever it is filled with."""
    shapes = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not (isinstance(node, ast.Call) and isinstance(node.func, (ast.Attribute, ast.Name))
                and (node.func.attr if isinstance(node.func, ast.Attribute)
                     else node.func.id) == call):
            continue
        for arg in node.args:
            if isinstance(arg, ast.JoinedStr):
                shapes.append("".join(v.value if isinstance(v, ast.Constant) else "{}"
                                      for v in arg.values))
            elif isinstance(arg, ast.Constant) and isinstance(arg.value, str) \
                    and arg is node.args[-1]:
                shapes.append(arg.value)
    return shapes


def _sample(shape: str) -> str:
    return shape.replace("{}", "'x'")


@pytest.mark.parametrize(("path", "call", "shapes"), [
    (SRC / "screening/policy.py", "err", POLICY_SHAPES),
    (SRC / "rumors/actions.py", "error", IMPORT_SHAPES),
    (SRC / "rumors/actions.py", "FieldProblem", IMPORT_SHAPES),
])
def test_every_sentence_shape_is_known(path: Path, call: str, shapes: list) -> None:
    written = _literal_shapes(path, call)
    assert written, call
    unknown = [s for s in written if not any(p.match(_sample(s)) for p, _ in shapes)]
    assert unknown == []


def test_a_real_pack_problem_in_chinese_and_english() -> None:
    with pytest.raises(QunguanError) as info:
        check_pack({"pack.toml": 'name = "t"\n',
                    "rules/a.toml": '[[rule]]\nid = "x"\nseverity = 9\n'})
    messages = [e["message"] for e in info.value.details["errors"]]
    assert "severity must be an integer from 1 to 5" in messages
    problem = pack_problem("severity must be an integer from 1 to 5", zh)
    assert (problem.text, problem.translated) == ("severity 必须是 1 到 5 的整数。", True)
    assert pack_problem("unknown rule key 'zz' (known: a, b)", zh).text == \
        "未知的规则键 'zz'（可用：a, b）。"
    assert pack_problem("unknown rule key 'zz' (known: a, b)", en).text == \
        "Unknown rule key 'zz' (known: a, b)."
    assert import_problem("missing publisher", zh).text == "缺少：publisher。"
    # What no pattern knows comes as it was, marked untranslated.
    assert pack_problem("something new", zh) == type(problem)("something new", False)
    assert re.search("[一-龥]", import_problem("published_on must be a date, YYYY-MM-DD",
                                               zh).text)
