"""The Go text/template subset behind `--format` and `inspect -f`: Go's printing, control flow, functions,
errors with positions, and the docker CLI's table mode."""

from __future__ import annotations

from typing import Any

import pytest

from composer.cli import gotemplate as gt
from composer.errors import ComposerError
from composer.tabwriter import tabwrite

DATA: dict[str, Any] = {
    "Id": "3f214c61ad1d",
    "Name": "/web",
    "State": {"Status": "running", "Pid": 42, "Running": True, "Paused": False, "ExitCode": 0},
    "Config": {
        "Labels": {"com.docker.compose.project": "demo", "b": "x y"},
        "Env": ["A=1", "B=2"],
        "Cmd": None,
        "Hostname": "web",
    },
    "NetworkSettings": {"Networks": {"demo_default": {"IPAddress": "172.18.0.2", "Aliases": ["web", "w"]}}},
    "Mounts": [],
    "Nested": {"m": {"k": [1, 2]}},
    "F": 1.5,
    "Big": 1234567.0,
    "Mixed": ["a", None, True, 3, {"z": 1, "a": [2]}],
}


def r(text: str, data: Any = DATA) -> str:
    return gt.render(text, data)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("plain text", "plain text"),
        ("{{.Id}}", "3f214c61ad1d"),
        ("{{.State.Status}} {{.State.Pid}} {{.State.Running}} {{.State.Paused}}", "running 42 true false"),
        ("{{.State.ExitCode}}", "0"),
        ("{{.Missing}}", "<no value>"),
        ("{{.Missing.Deeper}}", "<no value>"),
        ("{{.Config.Cmd}}", "<no value>"),
        ("{{.config.hostname}}", "<no value>"),  # keys match exactly, as on Go maps
        ("{{.Config.Env}}", "[A=1 B=2]"),
        ("{{.Mounts}}", "[]"),
        ("{{.Config.Labels}}", "map[b:x y com.docker.compose.project:demo]"),
        ("{{.Mixed}}", "[a <nil> true 3 map[a:[2] z:1]]"),
        ("{{.F}} {{.Big}}", "1.5 1.234567e+06"),
        ("{{.Nested}}", "map[m:map[k:[1 2]]]"),
        ("{{.}}", "[1 2]"),
    ],
)
def test_values_print_as_go(template: str, expected: str) -> None:
    data = [1, 2] if template == "{{.}}" else DATA
    assert r(template, data) == expected


def test_dot_scalar_and_text_escapes_stay_literal() -> None:
    assert r("{{.}}", "hello") == "hello"
    assert r("{{.}}", None) == "<no value>"
    assert r("a\\tb {{.}}", 1) == "a\\tb 1"  # the template itself keeps `\t`; parse_table_format converts it


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{json .State}}", '{"Status":"running","Pid":42,"Running":true,"Paused":false,"ExitCode":0}'),
        ("{{json .Config.Cmd}}", "null"),
        ("{{json .Missing}}", "null"),
        ('{{json "a<b"}}', '"a<b"'),
        ('{{index .Config.Labels "com.docker.compose.project"}}', "demo"),
        ('{{index .Config.Labels "nope"}}', "<no value>"),
        ('{{index .Nested "m" "k" 1}}', "2"),
        ('{{(index .NetworkSettings.Networks "demo_default").IPAddress}}', "172.18.0.2"),
        ('{{index (index .NetworkSettings.Networks "demo_default").Aliases 0}}', "web"),
        ('{{join .Config.Env ","}}', "A=1,B=2"),
        ('{{join (split "a:b:c" ":") "-"}}', "a-b-c"),
        ("{{upper .State.Status}}", "RUNNING"),
        ('{{lower "MiXeD"}}', "mixed"),
        ('{{title "hello wide-world foo_bar"}}', "Hello Wide-World Foo_bar"),
        ('{{pad "x" 2 1}}|', "  x |"),
        ('{{truncate "abcdef" 3}} {{truncate "ab" 3}}', "abc ab"),
        ("{{println .State.Status .State.Pid}}", "running 42\n"),
        ('{{print "a" "b" 1 2 "c"}}', "ab1 2c"),
        ('{{printf "%s:%d:%v:%q" .State.Status .State.Pid .Config.Env "x"}}', 'running:42:[A=1 B=2]:"x"'),
        ('{{printf "%-6s|%5d|%05d|%%" "ab" 42 7}}', "ab    |   42|00007|%"),
        ('{{printf "%d" "x"}}', "%!d(string=x)"),
        ('{{printf "%s"}}', "%!s(MISSING)"),
        ('{{printf "%.2f" .F}}', "1.50"),
        ('{{.State.Status | printf "%q"}}', '"running"'),
        ('{{"a" | printf "%s-%s" "b"}}', "b-a"),
        ("{{len .Config.Env}} {{len .Config.Labels}}", "2 2"),
        ('{{eq .State.Status "exited" "running"}} {{ne 1 2}} {{lt 1 2}} {{ge 1 2}}', "true true true false"),
        ('{{not .State.Running}} {{and 1 0}} {{or 0 "x"}}', "false 0 x"),
        ("{{`raw\\n`}}", "raw\\n"),
        ('{{"tab\\tq\\"u"}}', 'tab\tq"u'),
        ("{{3}} {{-2}} {{1.5}} {{true}} {{0x10}}", "3 -2 1.5 true 16"),
    ],
)
def test_functions(template: str, expected: str) -> None:
    assert r(template) == expected


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{if .State.Running}}up{{else}}down{{end}}", "up"),
        ("{{if .State.Paused}}p{{else}}np{{end}}", "np"),
        ("{{if .Mounts}}m{{else}}none{{end}}", "none"),
        ("{{if .Missing}}m{{end}}", ""),
        ("{{if .Missing}}a{{else if .State.Paused}}b{{else if .F}}c{{else}}d{{end}}", "c"),
        ("{{if .Missing}}a{{else if .State.Paused}}b{{end}}.", "."),
        ('{{if eq .State.Status "running"}}yes{{end}}', "yes"),
        ("{{range .Config.Env}}[{{.}}]{{end}}", "[A=1][B=2]"),
        ("{{range $i, $e := .Config.Env}}{{$i}}={{$e}} {{end}}", "0=A=1 1=B=2 "),
        ("{{range $e := .Config.Env}}{{$e}};{{end}}", "A=1;B=2;"),
        ("{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}", "b=x y;com.docker.compose.project=demo;"),
        ("{{range .Config.Labels}}{{.}},{{end}}", "x y,demo,"),
        ("{{range .Mounts}}x{{else}}no mounts{{end}}", "no mounts"),
        ("{{range .Missing}}x{{end}}", ""),
        ("{{range $n, $net := .NetworkSettings.Networks}}{{$n}} {{$net.IPAddress}}{{end}}", "demo_default 172.18.0.2"),
        ("{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", "172.18.0.2"),
        ("{{with .State}}{{.Status}}/{{$.Id}}{{end}}", "running/3f214c61ad1d"),
        ("{{with .Missing}}x{{else}}no{{end}}", "no"),
        ("{{$x := .State.Pid}}{{$x}}{{$x = 7}} {{$x}}", "42 7"),
        ("{{range .Config.Env}}{{$.Id}} {{end}}", "3f214c61ad1d 3f214c61ad1d "),
        ("{{range 3}}{{.}}{{end}}", "012"),
        ("{{range .Config.Env}}{{range $.Mounts}}m{{else}}-{{end}}{{end}}", "--"),
    ],
)
def test_control_flow(template: str, expected: str) -> None:
    assert r(template) == expected


def test_whitespace_trimming_and_comments() -> None:
    assert r("a  {{- .Id -}}  b") == "a3f214c61ad1db"
    assert r("a \n {{- .Id}} \n") == "a3f214c61ad1d \n"
    assert r("{{.Id -}}\n\t x") == "3f214c61ad1dx"
    assert r("{{range .Config.Env -}}\n  {{.}}\n{{- end}}") == "A=1B=2"
    assert r("x{{/* a comment */}}y") == "xy"
    assert r("x {{- /* c */ -}} y") == "xy"
    assert r("{{-3}}") == "-3"  # a dash without a space is a number, not a trim marker


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{.Id", "template: :1:0: unclosed action"),
        ("ab\ncd {{.Id", "template: :2:3: unclosed action"),
        ("{{nosuch .Id}}", 'template: :1:2: function "nosuch" not defined'),
        ("{{if .Id}}x", "unexpected EOF"),
        ("{{end}}", "unexpected {{end}}"),
        ("{{else}}", "unexpected {{else}}"),
        ("{{if 1}}{{else}}{{else}}{{end}}", "unexpected {{else}}"),
        ("{{}}", "missing value for command"),
        ('{{"abc}}', "unterminated quoted string"),
        ("{{.Id | }}", "missing value for command"),
        ("{{(.Id}}", "unclosed left paren"),
        ("{{.Id)}}", "unexpected"),
        ("{{/* x", "unclosed comment"),
        ('{{template "x"}}', "not supported"),
        ("{{.Id ! }}", "unexpected '!'"),
    ],
)
def test_parse_errors_name_the_position(template: str, message: str) -> None:
    with pytest.raises(ComposerError) as info:
        gt.parse(template)
    assert message in str(info.value)
    assert str(info.value).startswith("template: :")


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{.Id.Sub}}", 'template: :1:2: executing "" at <.Id.Sub>: can\'t evaluate field Sub in type string'),
        ("{{index .Config.Env 5}}", "index out of range: 5"),
        ("{{index .State.Pid 1}}", "can't index item of type int"),
        ("{{.Id 1}}", "can't give argument to non-function .Id"),
        ("{{json}}", "wrong number of args for json"),
        ("{{upper .State.Pid}}", "expected string; got int"),
        ('{{join .Id ","}}', "expected []string"),
        ("{{$nope}}", "undefined variable: $nope"),
        ('{{eq 1 "a"}}', "incompatible types for comparison"),
        ("{{range .Id}}{{end}}", "range can't iterate over 3f214c61ad1d"),
        ("{{.State.Pid | len}}", "len of type int"),
    ],
)
def test_execution_errors(template: str, message: str) -> None:
    with pytest.raises(ComposerError) as info:
        r(template)
    assert message in str(info.value)


def test_objects_with_attributes() -> None:
    class Row:
        Name = "n1"
        _hidden = "h"

    assert r("{{.Name}}", Row()) == "n1"
    with pytest.raises(ComposerError):
        r("{{._hidden}}", Row())


def test_parse_table_format() -> None:
    assert gt.parse_table_format("table {{.ID}}\\t{{.Name}}") == (True, "{{.ID}}\t{{.Name}}")
    assert gt.parse_table_format("{{.ID}}\\n") == (False, "{{.ID}}\n")
    assert gt.parse_table_format("  {{.ID}} ") == (False, "{{.ID}}")
    assert gt.parse_table_format("json") == (False, "json")


def test_tabwrite_go_semantics() -> None:
    assert tabwrite("a\tb\tc\nlonger cell\tx\ty\n") == "a             b         c\nlonger cell   x         y\n"
    # a line without tabs ends the column block; the next block is aligned on its own
    assert tabwrite("aaaaaaaaaaaaaaa\tb\nno tabs\nc\td\n") == "aaaaaaaaaaaaaaa   b\nno tabs\nc         d\n"
    # the last cell (after the last tab) is never padded; empty cells still take the min width
    assert tabwrite("\tx\n") == "          x\n"
    assert tabwrite("a\tb\n", minwidth=0, padding=1) == "a b\n"


def test_render_table_header_and_rows() -> None:
    rows = [
        {"ID": "abc", "Name": "n1", "Labels": ["x", "y"]},
        {"ID": "abcdefabcdef12", "Name": "n", "Labels": []},
    ]
    headers = {"ID": "CONTAINER ID", "Name": "NAME", "Labels": "LABELS"}
    out = gt.render_table('table {{.ID}}\\t{{upper .Name}}\\t{{join .Labels ","}}', rows, headers=headers)
    assert out.splitlines() == [
        "CONTAINER ID     NAME      LABELS",  # header functions leave titles alone
        "abc              N1        x,y",
        "abcdefabcdef12   N         ",
    ]
    assert gt.render_table("table {{.ID}}", [], headers=headers) == "CONTAINER ID\n"
    assert gt.render_table("{{.ID}}:{{.Name}}", rows) == "abc:n1\nabcdefabcdef12:n\n"
    assert gt.render_table("{{json .}}", rows[:1]) == '{"ID":"abc","Name":"n1","Labels":["x","y"]}\n'


def test_sprintf_and_go_str_helpers() -> None:
    assert gt.go_sprintf("%v %v", [[1, None], {"b": False}]) == "[1 <nil>] map[b:false]"
    assert gt.go_sprintf("%s", ["a", "b"]) == "a%!(EXTRA string=b)"
    assert gt.go_sprintf("%x %X %t", [255, "hi", True]) == "ff 6869 true"
    assert [gt.go_str(f) for f in (0.0, -2.5e-7, 1e6, 123456.0, 1e-4, float("inf"))] == [
        "0",
        "-2.5e-07",
        "1e+06",
        "123456",
        "0.0001",
        "+Inf",
    ]
    assert gt.truth(0.0) is False
    assert gt.truth({"a": 1}) is True


def test_default_headers_for_fields_without_a_title() -> None:
    assert [gt.default_header(k) for k in ("CreatedAt", "ID", "RunningFor", "LocalVolumes", "name")] == [
        "CREATED AT",
        "ID",
        "RUNNING FOR",
        "LOCAL VOLUMES",
        "NAME",
    ]
    out = gt.render_rows(
        "table {{.ID}}\\t{{.CreatedAt}}", [{"ID": "a", "CreatedAt": "now"}], headers={"ID": "IMAGE ID"}
    )
    assert out.splitlines() == ["IMAGE ID   CREATED AT", "a          now"]
    assert gt.render_rows("table {{.ID}}", [], {"ID": "IMAGE ID"}) == "IMAGE ID\n"  # headers may be positional
