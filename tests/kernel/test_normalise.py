"""kernel.text.normalise: the one normalisation every matcher uses."""

from __future__ import annotations

import pytest

from qunguan.kernel.text import normalise
from qunguan.messaging.fingerprint import fingerprint


@pytest.mark.parametrize(("a", "b"), [
    ("機密文件，不得外傳！！！", "机密文件,不得外传!"),        # traditional, full-width, repeats
    ("机 密", "机密"),                                          # separators between characters
    ("机\u200b密", "机密"),                                     # zero-width characters
    ("机·密", "机密"),
    ("ＡＢＣ１２３", "abc123"),                                 # full-width letters and digits
    ("【转】有人抢孩子", "有人抢孩子"),                          # forwarding boilerplate
    ("转发微博", ""),
    ("有人抢孩子[蜡烛][蜡烛]😀", "有人抢孩子"),                  # Weibo emoticons and emoji
    ("好的//@老王:有人抢孩子", "好的 有人抢孩子"),              # repost chain markers
    ("见 https://WWW.Piyao.org.cn/a/b.htm?from=share#top", "见 piyao.org.cn/a/b.htm"),
    ("  多个   空格  ", "多个 空格"),
])
def test_variants_meet(a: str, b: str) -> None:
    assert normalise(a) == normalise(b)


def test_keeps_what_carries_meaning() -> None:
    assert normalise("明天上午九点停水") == "明天上午九点停水"
    assert normalise("短链 http://t.cn/A6xyz") == "短链 t.cn/A6xyz"  # short-link codes keep case
    assert normalise("hello, world") == "hello, world"


def test_fingerprint_follows_normalisation() -> None:
    assert fingerprint("機密文件！！") == fingerprint("机密文件!")
    assert fingerprint("机密文件") != fingerprint("公开文件")
    # Only emoji: fingerprinted as written, so different emoji do not collide.
    assert fingerprint("😀") != fingerprint("😢")


@pytest.mark.parametrize(("a", "b"), [
    ("转账给我100元", "账给我100元"),              # a leading 转 is a word, not boilerplate
    ("[谣言]张三死了", "[辟谣]张三死了"),            # labels that carry meaning stay
    ("[2024]年报告", "年报告"),
    ("点击https://t.cn/AbC你知道吗?这是真的吗?", "点击https://t.cn/AbC你知道吗?那是假的吗?"),
    ("http://t.cn/AbC", "http://t.cn/aBc"),
])
def test_different_texts_stay_apart(a: str, b: str) -> None:
    assert normalise(a) != normalise(b)


def test_line_separator_is_a_space_not_a_join() -> None:
    assert normalise("foo\u2028bar") == "foo bar"
