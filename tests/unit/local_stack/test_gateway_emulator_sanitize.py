"""The Gateway emulator's own clean-up (``local_stack/gateway_emulator/sanitize.py``), written apart from the
function's judge: the same facts (shared/notes/hdruk-gateway.md §(c)), checked against lists spelt out here."""

from __future__ import annotations

import pytest

from local_stack.gateway_emulator.sanitize import Preprocessing, htmlentities, laravel_trim, php_arrays, preprocess
from tests.unit.destinations.hdruk.judge.test_gateway_fidelity import GATEWAY_WHITE_SPACE, NOT_TRIMMED

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("cp", GATEWAY_WHITE_SPACE, ids=[f"U+{cp:04X}" for cp in GATEWAY_WHITE_SPACE])
def test_each_gateway_white_space_is_trimmed_at_both_ends_only(cp: int) -> None:
    c = chr(cp)
    assert laravel_trim(f"{c}{c}1 - 10{c}Years{c}") == f"1 - 10{c}Years"
    assert preprocess({f"{c}k": f"{c}v{c}", "blank": c * 2}, Preprocessing(), sanitize_route=False) == {
        f"{c}k": "v",
        "blank": None,
    }


@pytest.mark.parametrize("cp", NOT_TRIMMED, ids=[f"U+{cp:04X}" for cp in NOT_TRIMMED])
def test_look_alikes_are_kept(cp: int) -> None:
    assert laravel_trim(f"{chr(cp)}x{chr(cp)}") == f"{chr(cp)}x{chr(cp)}"


def test_htmlentities_uses_php_s_html401_table_with_ent_quotes_and_double_encoding() -> None:
    assert htmlentities('Don\'t "quote" – café <b> & ©') == (
        "Don&#039;t &quot;quote&quot; &ndash; caf&eacute; &lt;b&gt; &amp; &copy;"
    )
    assert htmlentities("&amp; 日本 😀") == "&amp;amp; 日本 😀"  # no entity for CJK or emoji
    assert htmlentities("\0 x \x0b") == "x"  # PHP trim()'s own list, again, inside SanitizeMiddleware


def test_encoding_only_on_the_sanitize_routes_and_only_when_switched_on() -> None:
    body = {"followUp": " > 10 Years ", "n": 5, "list": ["a&b", None]}
    assert preprocess(body, Preprocessing(), sanitize_route=True) == {
        "followUp": "&gt; 10 Years",
        "n": 5,
        "list": ["a&amp;b", None],
    }
    assert preprocess(body, Preprocessing(), sanitize_route=False)["followUp"] == "> 10 Years"
    assert preprocess(body, Preprocessing.from_flag(False), sanitize_route=True) == body
    assert body["followUp"] == " > 10 Years "  # the input is left alone


def test_php_arrays_turns_empty_and_index_keyed_objects_into_lists() -> None:
    assert php_arrays({"e": {}, "f": {"0": "a", "1": {"0": 1}}, "g": {"1": "a"}, "h": [{}]}) == {
        "e": [],
        "f": ["a", [1]],
        "g": {"1": "a"},
        "h": [[]],
    }
