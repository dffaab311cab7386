"""How the PostgreSQL search reads text and queries, without a database or CKAN."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from ckanext.kho.search import analysis
from ckanext.kho.search.fields import normalise_date
from ckanext.kho.search.lucene import (
    And,
    Exists,
    MatchAll,
    Not,
    Or,
    Prefix,
    QuerySyntaxError,
    Range,
    Term,
    Wildcard,
    parse,
    parse_words,
)
from ckanext.kho.search.sql import Translation, solr_date

# --- analysis ------------------------------------------------------------------------------------


def test_words_are_normalised_case_folded_and_split_on_punctuation():
    nfd = "LU\u0301A"  # decomposed, upper case
    assert analysis.words(f"Sản lượng {nfd}, đông-xuân fct_crop 2024") == [
        "sản", "lượng", "lúa", "đông", "xuân", "fct", "crop", "2024",
    ]  # fmt: skip


def test_both_tone_placements_share_one_key():
    assert analysis.tone_key("hòa") == analysis.tone_key("hoà")
    assert analysis.tone_key("thủy") == analysis.tone_key("thuỷ")
    assert analysis.tone_key("lúa") != analysis.tone_key("lửa")
    assert analysis.tone_key("lương") != analysis.tone_key("lượng")


def test_folding_removes_every_mark_and_d_stroke():
    assert analysis.fold("đường lượng Ảnh") == "duong luong Anh"


def test_query_words_with_diacritics_match_exactly_without_match_loosely():
    assert analysis.query_lexeme("lúa") == analysis.tone_key("lúa")
    assert analysis.query_lexeme("lua") == "lua"
    assert set(analysis.index_lexemes("lúa")) == {analysis.tone_key("lúa"), "lua"}
    assert analysis.index_lexemes("crop") == ["crop"]


def test_tsvector_literal_keeps_positions_weights_and_a_gap_between_fields():
    literal = analysis.tsvector_literal([("Lúa gạo", "A"), ("ngô", "C")], gap=100)
    assert f"'{analysis.tone_key('lúa')}':1A" in literal and "'lua':1A" in literal
    assert "'gao':2A" in literal
    assert "'ngo':103C" in literal


def test_tsquery_literal():
    assert (
        analysis.tsquery_literal("sản lượng")
        == f"'{analysis.tone_key('sản')}' <-> '{analysis.tone_key('lượng')}'"
    )
    assert analysis.tsquery_literal("lú", prefix=True) == "'lu':*"
    assert analysis.tsquery_literal("thong k", prefix=True, weights="A") == "'thong':A <-> 'k':*A"
    assert analysis.tsquery_literal("!!") is None


def test_sort_key_orders_vietnamese_letters_with_their_base_letter():
    titles = ["Đường", "Bảng", "Ảnh", "Zeta", "bàn"]
    assert sorted(titles, key=analysis.sort_key) == ["Ảnh", "bàn", "Bảng", "Đường", "Zeta"]


# --- the Lucene subset CKAN sends ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "tree"),
    [
        ("*:*", MatchAll()),
        ("", MatchAll()),
        ("lúa gạo", And((Term(None, "lúa"), Term(None, "gạo")))),
        (
            '+site_id:"default" +state:active',
            And((Term("site_id", "default", True), Term("state", "active"))),
        ),
        ("+state:(active OR draft)", Or((Term("state", "active"), Term("state", "draft")))),
        (
            '+entity_type:package AND +(id:"x" OR name:"x")',
            And((Term("entity_type", "package"), Or((Term("id", "x", True), Term("name", "x", True))))),
        ),
        ("-dataset_type:harvest", Not(Term("dataset_type", "harvest"))),
        ('tags: "lúa"', Term("tags", "lúa", True)),  # ckan/views/feed.py puts a space after the colon
        ("name:crop-statistics", Term("name", "crop-statistics")),
        ("name^4 title:lúa~2", And((Term(None, "name"), Term("title", "lúa")))),
        ("res_format:*", Exists("res_format")),
        ("name:crop*", Prefix("name", "crop")),
        ("name:c?op_%", Wildcard("name", "c_op\\_\\%")),
        (r"title:a\:b", Term("title", "a:b")),
        (
            "metadata_modified:[2024-01-01T00:00:00Z TO NOW]",
            Range("metadata_modified", "2024-01-01T00:00:00Z", "NOW"),
        ),
        ("num_resources:{0 TO *]", Range("num_resources", "0", None, include_low=False)),
        ("NOT private:true", Not(Term("private", "true"))),
    ],
)
def test_parse(query, tree):
    assert parse(query) == tree


@pytest.mark.parametrize("query", ["title:(lúa", '"lúa', "AND", "name:", "metadata_modified:[1 2]"])
def test_unreadable_queries_are_errors(query):
    with pytest.raises(QuerySyntaxError):
        parse(query)


def test_free_text_that_does_not_parse_falls_back_to_its_words():
    assert parse_words('lúa (gạo "') == And((Term(None, "lúa"), Term(None, "gạo")))
    assert parse_words("((") == MatchAll()


# --- translation to SQL --------------------------------------------------------------------------


def test_string_fields_match_exactly_by_containment():
    t = Translation()
    assert t.where(parse('tags:"nông nghiệp"')) == "terms @> %s::jsonb"
    assert json.loads(t.params[0]) == {"tags": ["nông nghiệp"]}


def test_text_fields_match_analysed_words():
    t = Translation()
    t.where(parse('title:"Thống kê"'))
    assert json.loads(t.params[0]) == {"title": [analysis.tone_key("thống"), analysis.tone_key("kê")]}


def test_free_text_goes_to_the_tsvector_and_ranks_but_filters_do_not():
    t = Translation()
    assert t.where(parse("lúa")) == "tsv @@ %s::tsquery"
    t.where(parse("-lửa"))
    assert t.rank_queries == [f"'{analysis.tone_key('lúa')}'"]


def test_params_follow_placeholders_in_order():
    t = Translation()
    sql = t.where(parse("x:a?c AND num_resources:[1 TO 5]"))
    assert sql.count("%s") == len(t.params)
    assert t.params == ["x", "a_c", "num_resources", "1", "5"]


def test_solr_dates():
    now = datetime(2026, 3, 31, 15, 30, tzinfo=UTC)
    assert solr_date("NOW", now) == "2026-03-31T15:30:00.000000Z"
    assert solr_date("NOW-7DAYS", now) == "2026-03-24T15:30:00.000000Z"
    assert solr_date("NOW/DAY", now) == "2026-03-31T00:00:00.000000Z"
    assert solr_date("NOW-1MONTH", now).startswith("2026-02-28")
    assert solr_date("2024-01-01T00:00:00Z") == "2024-01-01T00:00:00.000000Z"
    assert normalise_date("2024-01-01T07:00:00+07:00") == "2024-01-01T00:00:00.000000Z"
    assert normalise_date("not a date") == "not a date"
