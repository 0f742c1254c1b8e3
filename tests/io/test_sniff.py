"""The dialect sniffer on hand-written first lines: delimiter, header, names."""

from __future__ import annotations

import pytest

from segmint.errors import DataValidationError
from segmint.io.sniff import WHITESPACE, normalize_delimiter, sniff


@pytest.mark.parametrize(
    ("sample", "delimiter"),
    [
        ("a,b,c\n1,2,3\n4,5,6\n", ","),
        ("a;b;c\n1;2,5;3\n4;5,0;6\n", ";"),  # decimal commas do not fool it
        ("a\tb\tc\n1\t2\t3\n", "\t"),
        ("a|b|c\n1|2|3\n", "|"),
        (" id  date n   amount\r\n 00001 19970101  1   11.77\r\n", WHITESPACE),
        ('id,text\n1,"two, three"\n2,"four; five"\n', ","),  # quoted delimiters are not splits
        ("id,ts\n1,2024-01-01 10:00\n2,2024-01-02 11:00\n", ","),  # not the space in dates
    ],
)
def test_delimiter(sample, delimiter):
    assert sniff(sample).delimiter == delimiter


def test_a_cut_last_line_does_not_decide():
    dialect = sniff("a,b,c,d\n1,2,3,4\n5,6,7,8\n9,1")
    assert dialect.delimiter == "," and dialect.names == ("a", "b", "c", "d")


def test_header_or_not():
    assert sniff("customer_id date n\n00001 19970101 1\n00002 19970102 2\n").header
    headerless = sniff(
        "00001 19970101 1 11.77\n00002 19970102 2 3.5\n", names=("id", "d", "n", "v")
    )
    assert not headerless.header and headerless.names == ("id", "d", "n", "v")
    # names of the wrong length are not forced onto the file
    assert sniff("1,2\n3,4\n", names=("a", "b", "c")).names == ("column1", "column2")
    # all-text columns: the first line is taken as the header, as DuckDB does
    assert sniff("name,city\nann,paris\nbob,rome\n").header


def test_names_are_made_usable():
    assert sniff("\ufeffid,,id\n1,2,3\n").names == ("id", "column2", "id_2")


def test_a_given_delimiter_wins():
    assert sniff("a,b;c\n1,2;3\n", delimiter=";").names == ("a,b", "c")


@pytest.mark.parametrize(
    ("value", "expected"),
    [(",", ","), (";", ";"), ("\\t", "\t"), ("tab", "\t"), ("|", "|"), ("Whitespace", WHITESPACE)],
)
def test_delimiter_spellings(value, expected):
    assert normalize_delimiter(value) == expected
    assert normalize_delimiter(None) is None


def test_unknown_delimiter():
    with pytest.raises(DataValidationError, match="--delimiter '#'"):
        normalize_delimiter("#")


def test_decimal_comma():
    assert sniff("id;price\n1;2,55\n2;1.234,5\n").decimal_comma
    assert not sniff("id;price\n1;2.55\n").decimal_comma
    assert not sniff('id,price\n1,"2,55"\n').decimal_comma  # a comma file writes 2.55


def test_only_cr_and_lf_end_a_line():
    # str.splitlines also breaks at \x1c-\x1e, \x85 and \u2028; DuckDB and the csv module do
    # not (a case hypothesis found: this file was read as one column)
    header = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
    sample = header + "\r\n500000,00000, 0\x1e,0,2010-01-01 00:00:00,0.00,10000,France\r\n500"
    dialect = sniff(sample)
    assert dialect.delimiter == "," and dialect.header
    assert dialect.names == tuple(header.split(","))


def test_a_line_break_inside_quotes_does_not_end_a_record():
    # hypothesis found it: the quoted break split the second record in two, and "\x85" (a
    # space to str.split, not to the reader) made runs of spaces the more consistent split
    header = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
    sample = (
        header + '\r\n500000,00000,,0,2010-01-01 00:00:00,0.00,10000,France\r\n,,,,,," 0\n",'
        "\x850\r\n500000,00000,,0,2010-01-01 00"
    )
    dialect = sniff(sample)
    assert dialect.delimiter == "," and dialect.names == tuple(header.split(","))
    # whitespace-separated text splits at spaces and tabs only, as the reader does
    assert sniff("a b\n1\x852 3\n4\x855 6\n").names == ("a", "b")


def test_a_quote_inside_a_field_is_text():
    # inch marks in descriptions: a quote opens a quoted field only at the start of a field
    # (counting quotes would have joined every later line to it, and seen no decimal comma)
    sample = 'id;description;price\n1;12" ruler;3,5\n2;pen;1,0\n3;ink;2,0\n'
    dialect = sniff(sample)
    assert dialect.delimiter == ";" and dialect.names == ("id", "description", "price")
    assert dialect.decimal_comma
