"""Harbor list-query conventions: q language, sort, paging and paging headers."""

from __future__ import annotations

import pytest

from moorage.core.errors import MoorageError
from moorage.core.query import Condition, Page, matches, paging_headers, parse_page, parse_q, parse_sort

# --- parse_q ---------------------------------------------------------------------------------------


def test_q_empty_or_none_gives_no_conditions() -> None:
    assert parse_q(None) == {} and parse_q("") == {} and parse_q("  ") == {}


def test_q_exact() -> None:
    assert parse_q("name=library") == {"name": Condition("exact", value="library")}


def test_q_fuzzy() -> None:
    assert parse_q("name=~lib") == {"name": Condition("fuzzy", value="lib")}


def test_q_range_both_bounds() -> None:
    assert parse_q("id=[1~10]") == {"id": Condition("range", low="1", high="10")}


def test_q_range_open_bounds() -> None:
    assert parse_q("id=[~10]")["id"] == Condition("range", low=None, high="10")
    assert parse_q("id=[1~]")["id"] == Condition("range", low="1", high=None)


def test_q_range_time_with_space() -> None:
    cond = parse_q("creation_time=[2020-04-09 02:36:00~2020-04-10 00:00:00]")["creation_time"]
    assert (cond.low, cond.high) == ("2020-04-09 02:36:00", "2020-04-10 00:00:00")


def test_q_or_list() -> None:
    assert parse_q("name={a b  c}") == {"name": Condition("or", values=("a", "b", "c"))}


def test_q_and_list() -> None:
    assert parse_q("labels=(1 2)") == {"labels": Condition("and", values=("1", "2"))}


def test_q_quoted_values_are_unquoted() -> None:
    q = parse_q("""name="a b",tags={'x' "y"},r=["a"~'b']""")
    assert q["name"].value == "a b"
    assert q["tags"].values == ("x", "y")
    assert (q["r"].low, q["r"].high) == ("a", "b")


def test_q_multiple_items_and_whitespace() -> None:
    q = parse_q(" name = ~lib , id=[1~5],public=true,")
    assert q == {
        "name": Condition("fuzzy", value="lib"),
        "id": Condition("range", low="1", high="5"),
        "public": Condition("exact", value="true"),
    }


def test_q_commas_inside_brackets_do_not_split() -> None:
    assert parse_q("name={a,b c},x=1")["name"].values == ("a,b", "c")


def test_q_value_may_contain_equals() -> None:
    assert parse_q("k=a=b")["k"] == Condition("exact", value="a=b")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("name", "'name': expected key=value"),
        ("=v", "'=v': empty key"),
        ("a=1,a=2", "duplicate key 'a'"),
        ("id=[1~5", "unbalanced brackets"),
        ("id=1~5]", "unbalanced brackets"),
        ("id={a b)", "unbalanced brackets"),
        ("id={a [b]}", "nested brackets"),
        ("id=x[1~2]", "brackets must enclose the whole value"),
        ("id=[1~2]x", "brackets must enclose the whole value"),
        ("id=[1 2]", "range must look like"),
        ("id=[~]", "at least one bound"),
        ("id={}", "empty value list"),
        ("id=( )", "empty value list"),
    ],
)
def test_q_malformed_raises_bad_request(raw: str, message: str) -> None:
    with pytest.raises(MoorageError, match=message) as exc:
        parse_q(raw)
    assert exc.value.code == "BAD_REQUEST" and exc.value.status == 400


# --- parse_sort ------------------------------------------------------------------------------------

ALLOWED = {"name": "name", "creation_time": "created_at", "update_time": "updated_at"}


def test_sort_none_or_empty() -> None:
    assert parse_sort(None, ALLOWED) == [] and parse_sort("", ALLOWED) == []


def test_sort_maps_fields_and_direction() -> None:
    assert parse_sort("name,-creation_time", ALLOWED) == [("name", False), ("created_at", True)]


def test_sort_ignores_blank_items_and_spaces() -> None:
    assert parse_sort(" -update_time , ,name", ALLOWED) == [("updated_at", True), ("name", False)]


def test_sort_unknown_field_names_allowed_fields() -> None:
    with pytest.raises(MoorageError, match=r"'size'.*creation_time, name, update_time") as exc:
        parse_sort("name,-size", ALLOWED)
    assert exc.value.code == "BAD_REQUEST"


def test_sort_bare_minus_is_rejected() -> None:
    with pytest.raises(MoorageError, match="invalid sort field ''"):
        parse_sort("-", ALLOWED)


# --- parse_page ------------------------------------------------------------------------------------


def test_page_defaults() -> None:
    assert parse_page(None, None) == Page(page=1, page_size=10, offset=0, limit=10)
    assert parse_page("", "", default_size=25).page_size == 25


def test_page_from_strings_and_ints() -> None:
    assert parse_page("3", 20) == Page(page=3, page_size=20, offset=40, limit=20)


def test_page_size_at_max_is_allowed() -> None:
    assert parse_page(1, "100").page_size == 100


@pytest.mark.parametrize(
    ("page", "size", "message"),
    [
        ("0", None, "page '0': must be at least 1"),
        (-1, None, "page -1: must be at least 1"),
        ("x", None, "page 'x': must be an integer"),
        ("1.5", None, "page '1.5': must be an integer"),
        (True, None, "page True: must be an integer"),
        (None, 0, "page_size 0: must be at least 1"),
        (None, "abc", "page_size 'abc': must be an integer"),
        (None, 101, "page_size 101: must be at most 100"),
    ],
)
def test_page_invalid_raises_bad_request(page: str | int | None, size: str | int | None, message: str) -> None:
    with pytest.raises(MoorageError, match=message) as exc:
        parse_page(page, size)
    assert exc.value.code == "BAD_REQUEST"


def test_page_custom_max_size() -> None:
    with pytest.raises(MoorageError, match="at most 50"):
        parse_page(1, 51, max_size=50)


# --- paging_headers --------------------------------------------------------------------------------

PATH = "/api/v2.0/projects"


def test_headers_single_page_has_no_link() -> None:
    assert paging_headers(PATH, {}, parse_page(1, 10), 7) == {"X-Total-Count": "7"}


def test_headers_first_page_has_only_next() -> None:
    headers = paging_headers(PATH, {}, parse_page(1, 10), 25)
    assert headers["Link"] == '</api/v2.0/projects?page=2&page_size=10>; rel="next"'


def test_headers_middle_page_has_prev_and_next() -> None:
    headers = paging_headers(PATH, {}, parse_page(2, 10), 25)
    assert headers == {
        "X-Total-Count": "25",
        "Link": '</api/v2.0/projects?page=1&page_size=10>; rel="prev" , '
        '</api/v2.0/projects?page=3&page_size=10>; rel="next"',
    }


def test_headers_last_page_has_only_prev() -> None:
    headers = paging_headers(PATH, {}, parse_page(3, 10), 25)
    assert headers["Link"] == '</api/v2.0/projects?page=2&page_size=10>; rel="prev"'


def test_headers_page_past_the_end_has_no_link() -> None:
    assert "Link" not in paging_headers(PATH, {}, parse_page(9, 10), 25)


def test_headers_preserve_and_encode_other_params_and_override_paging() -> None:
    query = {"q": "name=~lib,id=[1~5]", "sort": "-name", "page": "2", "page_size": "99"}
    headers = paging_headers(PATH, query, parse_page(2, 5), 20)
    assert headers["Link"] == (
        '</api/v2.0/projects?page=1&page_size=5&q=name%3D~lib%2Cid%3D%5B1~5%5D&sort=-name>; rel="prev" , '
        '</api/v2.0/projects?page=3&page_size=5&q=name%3D~lib%2Cid%3D%5B1~5%5D&sort=-name>; rel="next"'
    )


# --- matches ---------------------------------------------------------------------------------------


def test_matches_exact() -> None:
    cond = parse_q("k=abc")["k"]
    assert matches(cond, "abc") and not matches(cond, "abcd")


def test_matches_fuzzy_is_substring() -> None:
    cond = parse_q("k=~bc")["k"]
    assert matches(cond, "abcd") and not matches(cond, "acbd")


def test_matches_or_list() -> None:
    cond = parse_q("k={a b}")["k"]
    assert matches(cond, "b") and not matches(cond, "c")


def test_matches_and_list_requires_every_value() -> None:
    assert matches(parse_q("k=(a a)")["k"], "a")
    assert not matches(parse_q("k=(a b)")["k"], "a")


def test_matches_range_lexical_inclusive() -> None:
    cond = parse_q("k=[b~d]")["k"]
    assert [matches(cond, v) for v in ("a", "b", "c", "d", "e")] == [False, True, True, True, False]


def test_matches_range_numeric_when_all_integers() -> None:
    cond = parse_q("k=[2~10]")["k"]
    assert matches(cond, "9") and matches(cond, "10") and not matches(cond, "11")


def test_matches_range_open_bounds() -> None:
    assert matches(parse_q("k=[~m]")["k"], "a") and not matches(parse_q("k=[~m]")["k"], "z")
    assert matches(parse_q("k=[m~]")["k"], "z") and not matches(parse_q("k=[m~]")["k"], "a")
