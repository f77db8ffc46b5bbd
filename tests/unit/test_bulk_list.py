"""`bot.services.bulk_list`: reading a bulk send's recipient list, its message per recipient,
STOP answers, and the report."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.services.bulk_list import (
    MAX_BYTES,
    MAX_LINE_CHARS,
    MAX_LINES,
    MAX_PROBLEMS,
    STOP_WORDS,
    LineProblem,
    ListRefusal,
    Recipient,
    RecipientList,
    is_stop,
    missing_fields,
    parse_list,
    render,
)
from bot.services.bulk_report import ReportRow, report_csv
from bot.telegram.texts import TEXTS

FAST = settings(max_examples=200, deadline=None, database=None)

# 30 valid Russian mobiles, as people type them, and their international digits.
TYPED = [f"8 916 123-{i // 10:02d}-{i % 10:02d}" if i % 2 else f"8916123{i:04d}" for i in range(30)]
DIGITS = [f"7916123{i // 10:02d}{i % 10:02d}" if i % 2 else f"7916123{i:04d}" for i in range(30)]
NAMES = [f"Name{i}" for i in range(30)]
ORDERS = [f"order {4400 + i}" for i in range(30)]


def read(data: bytes | str, **options: object) -> RecipientList:
    kwargs: dict[str, object] = {"region": "RU", "max_recipients": 1000}
    kwargs.update(options)
    return parse_list(data, **kwargs)  # type: ignore[arg-type]


def lines_of(delimiter: str, header: bool = True) -> list[str]:
    rows = [delimiter.join(row) for row in zip(TYPED, NAMES, ORDERS, strict=True)]
    return [delimiter.join(["phone", "name", "order"]), *rows] if header else rows


def assert_the_thirty(result: RecipientList) -> None:
    assert result.ok, result.refusal
    assert [r.phone for r in result.recipients] == DIGITS
    assert [r.fields["name"] for r in result.recipients] == NAMES
    assert [r.fields["order"] for r in result.recipients] == ORDERS
    assert [r.fields["1"] for r in result.recipients] == NAMES  # positions work with a header too
    assert [r.line for r in result.recipients] == list(range(2, 32))
    assert result.field_names == ("name", "order")
    assert result.header and not result.problems and not result.duplicates


# --- the shapes people send


def test_pasted_thirty_lines_with_a_header_and_fields() -> None:
    pasted = "\n".join(lines_of("; "))
    assert_the_thirty(read(pasted))


@pytest.mark.parametrize(
    ("delimiter", "name"),
    [(";", "list.csv"), (",", "list.csv"), ("\t", "list.tsv"), ("|", "list.txt")],
)
def test_the_same_as_a_file(delimiter: str, name: str) -> None:
    data = "\r\n".join(lines_of(delimiter)).encode()
    result = read(data, file_name=name)
    assert_the_thirty(result)
    assert result.delimiter == delimiter
    assert result.encoding == "utf-8"


def test_a_plain_file_of_one_number_a_line() -> None:
    result = read(("\n".join(TYPED) + "\n").encode(), file_name="numbers.txt")
    assert result.ok and not result.header and result.delimiter is None
    assert [r.phone for r in result.recipients] == DIGITS
    assert result.field_names == () and result.recipients[0].fields == {}


def test_one_column_with_text_after_the_phone() -> None:
    # No delimiter: a line is read as /send reads "PHONE TEXT"; the text is field 1.
    result = read("89872745052 Ivan Petrov\n+7 916 123-00-01\n+49 1521 6896607 Hans")
    assert [(r.phone, r.fields["1"]) for r in result.recipients] == [
        ("79872745052", "Ivan Petrov"),
        ("79161230001", ""),
        ("4915216896607", "Hans"),
    ]
    assert result.field_names == ("1",)


def test_fields_by_position_without_a_header() -> None:
    result = read("89872745052; Ivan; order 4471\n89161230001;Anna")
    assert not result.header
    assert result.recipients[0].fields == {"1": "Ivan", "2": "order 4471"}
    assert result.recipients[1].fields == {"1": "Anna", "2": ""}  # a missing cell is empty
    assert result.field_names == ("1", "2")
    assert render("Hello {1}, your {2} is ready", result.recipients[0]) == (
        "Hello Ivan, your order 4471 is ready"
    )
    assert render("Hello {1}, your {2} is ready", result.recipients[1]) == (
        "Hello Anna, your  is ready"
    )


# --- the phone column


@pytest.mark.parametrize(
    "name", ["phone", "PHONE", "Phone", "number", "Телефон", "ТЕЛЕФОН", "номер", "Номер телефона:"]
)
def test_the_phone_column_by_its_name(name: str) -> None:
    result = read(f"Name;Order;{name}\nIvan;4471;89872745052\n")
    assert result.header
    assert result.recipients[0].phone == "79872745052"
    assert result.recipients[0].fields["name"] == "Ivan"
    assert result.field_names == ("Name", "Order")


def test_else_the_first_column() -> None:
    result = read("who;order\n89872745052;4471\n")
    assert result.header and result.recipients[0].phone == "79872745052"
    assert result.recipients[0].fields == {"who": "89872745052", "order": "4471", "1": "4471"}


def test_else_the_column_that_holds_phones() -> None:
    # No name we know and phones in the second column: the first lines decide.
    result = read("Имя;Мобила\nИван;89872745052\nАнна;89161230001\n")
    assert [r.phone for r in result.recipients] == ["79872745052", "79161230001"]
    assert result.recipients[0].fields["имя"] == "Иван"
    headerless = read("Ivan,89872745052\nAnna,89161230001\n")
    assert not headerless.header
    assert [r.fields["1"] for r in headerless.recipients] == ["Ivan", "Anna"]


def test_a_mistyped_phone_on_the_first_line_is_not_a_header() -> None:
    result = read("8987274505;Ivan\n89161230001;Anna\n")
    assert not result.header
    assert [(p.line, p.reason) for p in result.problems] == [(1, LineProblem.PHONE_INVALID)]
    assert [r.phone for r in result.recipients] == ["79161230001"]


# --- line numbers, problems, duplicates


def test_bad_lines_are_numbered_as_the_person_sees_them() -> None:
    text = (
        "phone;name\n"  # 1
        "89872745052;Ivan\n"  # 2
        "\n"  # 3: blank, skipped silently
        "hello;Anna\n"  # 4
        "   \n"  # 5
        "8987;Oleg\n"  # 6
        ";Empty\n"  # 7
        ";;;\n"  # 8: an empty spreadsheet row, skipped silently
        "89161230001;Maria\n"  # 9
    )
    result = read(text)
    assert [r.line for r in result.recipients] == [2, 9]
    assert [(p.line, p.reason, p.text) for p in result.problems] == [
        (4, LineProblem.PHONE_CHARACTERS, "hello"),
        (6, LineProblem.PHONE_INVALID, "8987"),
        (7, LineProblem.PHONE_EMPTY, ""),
    ]


def test_an_ambiguous_phone_gives_both_readings() -> None:
    # In Germany, 447781123456 is both +49 4477… and +44 7781… (as for /send).
    result = read("phone\n447781123456\n", region="DE")
    assert [(p.line, p.reason) for p in result.problems] == [(2, LineProblem.PHONE_AMBIGUOUS)]
    assert result.problems[0].options == ("+49 4477 81123456", "+44 7781 123456")
    assert result.refusal is not None and result.refusal.reason is ListRefusal.NO_RECIPIENTS


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_any_line_ending_numbers_the_same(newline: str) -> None:
    text = newline.join(["phone", "89872745052", "", "bad", "89161230001"])
    result = read(text.encode())
    assert [r.line for r in result.recipients] == [2, 5]
    assert [p.line for p in result.problems] == [4]


def test_duplicates_are_dropped_the_first_kept() -> None:
    result = read("89872745052;first\n+7 987 274-50-52;second\n79872745052;third\n89161230001;x")
    assert [(r.phone, r.fields["1"]) for r in result.recipients] == [
        ("79872745052", "first"),
        ("79161230001", "x"),
    ]
    assert result.duplicates == (2, 3)


def test_more_fields_than_the_header_names() -> None:
    result = read("phone,name\n89872745052,Ivanov, Ivan\n89161230001,Anna,,\n")
    assert [(p.line, p.reason) for p in result.problems] == [(2, LineProblem.TOO_MANY_FIELDS)]
    assert [r.fields["name"] for r in result.recipients] == ["Anna"]  # trailing empties are fine


def test_quotes_keep_a_delimiter_in_a_field_and_cannot_swallow_lines() -> None:
    text = (
        'phone;name;note\n89872745052;"Petrov; Ivan";"say ""hi"""\n'
        '89161230001;"unclosed;x\n89161230002;Anna;ok\n'
    )
    result = read(text)
    first, second, third = result.recipients
    assert (first.fields["name"], first.fields["note"]) == ("Petrov; Ivan", 'say "hi"')
    assert second.fields["name"] == "unclosed;x"  # the quote ends with its line
    assert (third.line, third.fields["name"]) == (4, "Anna")


def test_opted_out_numbers_are_left_out_and_counted() -> None:
    result = read("89872745052\n89161230001\n89161230002", opted_out={"79161230001"})
    assert [r.phone for r in result.recipients] == ["79872745052", "79161230002"]
    assert result.opted_out == (2,)
    everyone = read("89161230001", opted_out={"79161230001"})
    assert everyone.refusal is not None and everyone.refusal.reason is ListRefusal.NO_RECIPIENTS


def test_over_the_cap_is_refused_not_cut() -> None:
    text = "\n".join(TYPED)
    assert read(text, max_recipients=30).ok
    result = read(text, max_recipients=29)
    assert result.refusal is not None
    assert result.refusal.reason is ListRefusal.TOO_MANY_RECIPIENTS
    assert (result.refusal.count, result.refusal.limit) == (30, 29)
    # Left-out numbers do not count against the cap.
    stopped = read(text, max_recipients=29, opted_out={DIGITS[0]})
    assert stopped.ok and len(stopped.recipients) == 29


# --- hostile lists: a clear refusal or a line's problem, never a crash


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", ListRefusal.EMPTY),
        ("", ListRefusal.EMPTY),
        ("\n \n\t\n", ListRefusal.EMPTY),
        ("phone;name\n", ListRefusal.EMPTY),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", ListRefusal.BINARY),
        (bytes(range(256)) * 4, ListRefusal.BINARY),
        (b"\x01\x02\x03\x04 89872745052", ListRefusal.BINARY),
        (b"PK\x03\x04\x14\x00\x06\x00", ListRefusal.SPREADSHEET),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00", ListRefusal.SPREADSHEET),
        ("x;" * 150 + "\n89872745052", ListRefusal.TOO_MANY_COLUMNS),
        ("hello\nworld\n", ListRefusal.NO_RECIPIENTS),
    ],
)
def test_hostile_lists_are_refused_in_words(data: bytes | str, reason: ListRefusal) -> None:
    result = read(data)
    assert result.refusal is not None and result.refusal.reason is reason
    assert not result.recipients


def test_a_spreadsheet_by_its_name() -> None:
    result = read(b"89872745052", file_name="Clients.XLSX")
    assert result.refusal is not None and result.refusal.reason is ListRefusal.SPREADSHEET


def test_ten_megabytes_are_refused_unread() -> None:
    result = read(b"89872745052\n" * (10 * 1024 * 1024 // 12))
    assert result.refusal is not None and result.refusal.reason is ListRefusal.TOO_BIG
    assert result.refusal.limit == MAX_BYTES and result.refusal.count > MAX_BYTES


def test_a_hundred_thousand_lines_are_refused() -> None:
    result = read(b"8\n" * 100_000)
    assert result.refusal is not None and result.refusal.reason is ListRefusal.TOO_MANY_LINES
    assert (result.refusal.count, result.refusal.limit) == (100_000, MAX_LINES)


def test_reading_stops_after_too_many_unreadable_lines() -> None:
    result = read("\n".join(f"8987{i:05d}" for i in range(5000)))
    assert result.refusal is not None and result.refusal.reason is ListRefusal.TOO_MANY_PROBLEMS
    assert len(result.problems) == MAX_PROBLEMS + 1


def test_a_ten_thousand_character_line_is_refused_alone() -> None:
    text = f"phone;note\n89872745052;ok\n89161230001;{'x' * 10_000}\n89161230002;ok\n"
    result = read(text)
    assert [r.line for r in result.recipients] == [2, 4]
    assert [(p.line, p.reason) for p in result.problems] == [(3, LineProblem.TOO_LONG)]
    assert len(result.problems[0].text) <= 64
    assert MAX_LINE_CHARS < 10_000


def test_formulas_and_markup_are_kept_as_data() -> None:
    text = "phone;name;note\n89872745052;=cmd|' /C calc'!A0;<b>bold</b> & <i>\n"
    recipient = read(text).recipients[0]
    assert recipient.fields["name"] == "=cmd|' /C calc'!A0"
    assert recipient.fields["note"] == "<b>bold</b> & <i>"  # the Telegram layer escapes it
    assert render("{name} {note}", recipient) == "=cmd|' /C calc'!A0 <b>bold</b> & <i>"


def test_stray_control_characters_are_removed() -> None:
    result = read(b"phone;name\n89872745052;Iv\x0ban" + b" padding" * 20)
    assert result.recipients[0].fields["name"].startswith("Ivan")


# --- encodings


@pytest.mark.parametrize(
    ("encoding", "prefix", "name"),
    [
        ("utf-8", b"\xef\xbb\xbf", "utf-8-sig"),
        ("utf-16-le", b"\xff\xfe", "utf-16"),  # Excel's "Unicode text": tabs, UTF-16 with a BOM
        ("utf-16-be", b"\xfe\xff", "utf-16"),
        ("utf-8", b"", "utf-8"),
        ("cp1251", b"", "cp1251"),  # Russian Excel's "CSV"
    ],
)
def test_encodings(encoding: str, prefix: bytes, name: str) -> None:
    text = "Телефон\tИмя\n89872745052\tЁжиков Иван Сергеевич\n"
    result = read(prefix + text.encode(encoding))
    assert result.encoding == name
    assert result.recipients[0].fields["имя"] == "Ёжиков Иван Сергеевич"


def test_western_eight_bit_is_cp1252() -> None:
    text = "phone,name\n+56 9 6123 4567,José Muñoz\n+56 9 6123 4568,Raúl\n"
    result = read(text.encode("cp1252"), region="CL")
    assert result.encoding == "cp1252"
    assert [r.fields["name"] for r in result.recipients] == ["José Muñoz", "Raúl"]


# --- the message


def recipient(**fields: str) -> Recipient:
    return Recipient(line=2, phone="79872745052", fields=fields)


def test_render() -> None:
    ivan = recipient(name="Ivan", order="4471", empty="", **{"1": "Ivan"})
    assert render("Hello {name}, your order {order} is ready", ivan) == (
        "Hello Ivan, your order 4471 is ready"
    )
    assert render("Hi { NAME }{empty}!", ivan) == "Hi Ivan!"
    assert render("{{name}} is {name}, {{{name}}}", ivan) == "{name} is Ivan, {Ivan}"
    assert render("{0.__class__} {name!r} {name:>10} {1}", ivan) == (
        "{0.__class__} {name!r} {name:>10} Ivan"
    )
    assert render("a { b } c {", ivan) == "a { b } c {"
    assert render("{missing}", ivan) == "{missing}"


def test_a_field_value_is_never_read_as_a_template() -> None:
    sneaky = recipient(name="{order}", order="secret")
    assert render("{name}", sneaky) == "{order}"


def test_missing_fields_are_found_before_sending() -> None:
    listed = read("phone;Name;order\n89872745052;Ivan;4471")
    assert missing_fields("Hello {name}, {ORDER} {1} {2}", listed) == set()
    assert missing_fields("Hello {nmae}, {3} {{x}} {0.__class__}", listed) == {
        "nmae",
        "3",
        "0.__class__",
    }
    plain = read("89872745052;Ivan")
    assert missing_fields("{1} {2} {name}", plain) == {"2", "name"}


# --- STOP


@pytest.mark.parametrize(
    "text",
    [
        "STOP",
        "stop",
        "Stop!",
        " стоп. ",
        "СТОП",
        "STOP 🙏",
        "🛑 Stop",
        "Отписаться",
        "отписка!!",
        "Unsubscribe.",
        "«стоп»",
        "ＳＴＯＰ",
        "\nstop\n",
    ],
)
def test_stop(text: str) -> None:
    assert is_stop(text)


@pytest.mark.parametrize(
    "text",
    [
        "please stop calling",
        "stopper",
        "stop it now",
        "don't stop",
        "s t o p",
        "",
        "🙏",
        "стопка",
        "отписаться от рассылки",
        "STOP2",
    ],
)
def test_not_stop(text: str) -> None:
    assert not is_stop(text)


def test_stop_words_are_lowercase_single_words() -> None:
    assert all(word == word.casefold() and word.isalpha() for word in STOP_WORDS)


# --- the report

AT = datetime(2026, 5, 9, 10, 30, 5, tzinfo=timezone(timedelta(hours=3)))


def report_rows(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(data[3:].decode("utf-8"), newline="")))


def test_report_escapes_what_a_spreadsheet_would_run() -> None:
    rows = [
        ReportRow(
            "+7 987 274-50-52",
            {"name": "=1+1", "note": "+7 987 000", "tag": "@x"},
            "failed",
            AT,
            "-2 credits",
        ),
        ReportRow("79161230001", {"name": "\tTab", "note": "\rCR", "tag": "-2"}, "sent", None),
        ReportRow("79161230002", {"name": "Иван", "note": "plain", "tag": "a=b"}, "delivered", AT),
    ]
    data = report_csv(rows, ["Name", "note", "tag"])
    assert report_rows(data) == [
        ["phone", "Name", "note", "tag", "state", "time", "reason"],
        ["79872745052", "'=1+1", "'+7 987 000", "'@x", "failed", "2026-05-09T07:30:05+00:00", "'-2 credits"],
        ["79161230001", "'\tTab", "'\rCR", "'-2", "sent", "", ""],
        ["79161230002", "Иван", "plain", "a=b", "delivered", "2026-05-09T07:30:05+00:00", ""],
    ]  # fmt: skip


def test_report_header_is_escaped_and_semicolons_possible() -> None:
    naive = datetime(2026, 5, 9, 7, 30, 5)  # naive means UTC
    data = report_csv([ReportRow("79872745052", {}, "sent", naive)], ["=evil"], delimiter=";")
    assert data.decode("utf-8-sig").splitlines() == [
        "phone;'=evil;state;time;reason",
        "79872745052;;sent;2026-05-09T07:30:05+00:00;",
    ]


def test_report_from_a_parsed_list() -> None:
    listed = read('Телефон;Имя;Заказ\n+7 987 274-50-52;=HYPERLINK("x");4471\n')
    rows = [
        ReportRow(r.phone, r.fields, "sent", datetime(2026, 1, 1, tzinfo=UTC))
        for r in listed.recipients
    ]
    assert report_rows(report_csv(rows, listed.field_names)) == [
        ["phone", "Имя", "Заказ", "state", "time", "reason"],
        ["79872745052", "'=HYPERLINK(\"x\")", "4471", "sent", "2026-01-01T00:00:00+00:00", ""],
    ]  # fmt: skip


# --- the words for every reason


@pytest.mark.parametrize("reason", list(ListRefusal))
def test_every_refusal_has_words(reason: ListRefusal) -> None:
    assert f"bulk_refused_{reason}" in TEXTS


@pytest.mark.parametrize("reason", list(LineProblem))
def test_every_line_problem_has_words(reason: LineProblem) -> None:
    assert f"bulk_problem_{reason}" in TEXTS


# --- never a crash

_LISTISH = st.lists(
    st.one_of(
        st.sampled_from(["89872745052", "+7 987 274-50-52", "phone", "Имя", "8987", "", " "]),
        st.text(alphabet=st.sampled_from(list(";,\t|\"' {}=+-@x9\r\n\x00é")), max_size=12),
    ),
    max_size=30,
).map("".join)


@FAST
@given(st.binary(max_size=3000), st.sampled_from([None, "a.csv", "b.xlsx"]))
def test_arbitrary_bytes_never_raise(data: bytes, name: str | None) -> None:
    result = read(data, file_name=name)
    assert result.ok == (result.refusal is None)
    assert bool(result.recipients) or not result.ok  # a list that may be sent has someone


@FAST
@given(st.one_of(st.text(max_size=3000), _LISTISH), st.integers(0, 5))
def test_arbitrary_text_never_raises(text: str, cap: int) -> None:
    result = read(text, max_recipients=cap)
    assert len(result.recipients) <= cap or not result.ok
    phones = [r.phone for r in result.recipients]
    assert len(phones) == len(set(phones)) and all(p.isdigit() for p in phones)
    for r in result.recipients:
        assert set(r.fields) == set(result.field_keys)
        render("{1} {name} {{x}}", r)


@FAST
@given(
    st.one_of(st.text(), st.text(alphabet=st.sampled_from(list("{}!:.0a1 _\n")))),
    st.dictionaries(st.text(max_size=5), st.text(max_size=20), max_size=5),
)
def test_render_never_raises(template: str, fields: dict[str, str]) -> None:
    out = render(template, Recipient(1, "79872745052", fields))
    if "{" not in template and "}" not in template:
        assert out == template
    missing_fields(template, read("89872745052;x"))
