"""The Dockerfile parser and variable substitution (pure)."""

from __future__ import annotations

import pytest

from composer.planner.dockerfile import DockerfileError, expand_word, expand_words, key_values, parse, parse_trigger


def test_stages_lines_flags_and_forms() -> None:
    f = parse(
        "# syntax=docker/dockerfile:1\n"
        "ARG BASE=busybox\n"
        "\n"
        "FROM --platform=linux/amd64 $BASE AS Build\n"
        "RUN echo a \\\n"
        "  # a comment inside a continuation\n"
        "  && echo b\n"
        "COPY --from=build --chown=1:2 a b /c/\n"
        "CMD [\"x\", \"y\"]\n"
        "FROM scratch\n"
        "ENTRYPOINT not [json\n"
    )
    assert f.directives == {"syntax": "docker/dockerfile:1"}
    assert [i.args for i in f.meta_args] == ["BASE=busybox"]
    build, last = f.stages
    assert (build.base, build.name, build.platform, build.line) == ("$BASE", "build", "linux/amd64", 4)
    run, copy, cmd = build.instructions
    assert (run.line, run.args) == (5, "echo a   && echo b")
    assert copy.line == 8
    assert copy.flags == (("from", "build"), ("chown", "1:2"))
    assert copy.args == "a b /c/"
    assert cmd.json_args == ("x", "y")
    assert last.base == "scratch"
    assert last.instructions[0].json_args is None


def test_escape_directive_and_lowercase_instructions() -> None:
    f = parse("# escape=`\nfrom busybox\nrun echo a `\n  b\n")
    assert f.escape == "`"
    assert f.stages[0].instructions[0].args == "echo a   b"


def test_directives_only_at_the_top() -> None:
    f = parse("FROM busybox\n# escape=`\nRUN echo \\\n x\n")
    assert f.escape == "\\"
    assert f.directives == {}
    assert f.stages[0].instructions[0].args == "echo  x"


def test_heredocs() -> None:
    f = parse("FROM busybox\nRUN <<EOF\necho hi\necho there\nEOF\nCOPY <<-'A' /x\n\tliteral $X\nA\nCMD [\"true\"]\n")
    run, copy, cmd = f.stages[0].instructions
    assert run.heredocs[0].content == "echo hi\necho there\n"
    assert run.heredocs[0].expand
    assert copy.heredocs[0].content == "literal $X\n"
    assert not copy.heredocs[0].expand
    assert (copy.line, cmd.line) == (6, 9)


@pytest.mark.parametrize(("text", "message"), [
    ("FROM busybox\nRUN true\nFROBNICATE x\n", "Dockerfile:3: unknown instruction: FROBNICATE"),
    ("RUN true\n", "Dockerfile:1: RUN before the first FROM"),
    ("# comment only\n", "no FROM instruction"),
    ("FROM busybox\nRUN <<EOF\necho\n", "Dockerfile:2: heredoc <<EOF is not terminated"),
    ("FROM a b\n", "Dockerfile:1: FROM takes an image"),
    ("# escape=x\nFROM a\n", "invalid escape token"),
])
def test_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(DockerfileError, match=message.replace("(", r"\(")):
        parse(text)


def test_substitution() -> None:
    env = {"A": "1", "EMPTY": "", "SP": "a b"}
    assert expand_word("$A-${A}-${NOPE:-dflt}-${EMPTY:-e}-${EMPTY-e}", env) == "1-1-dflt-e-"
    assert expand_word("${A:+set}|${NOPE:+set}|${EMPTY:+set}|${EMPTY+set}", env) == "set|||set"
    assert expand_word("\\$A '$A' \"$A\"", env) == "$A $A 1"
    assert expand_words("$SP \"$SP\" x\\ y", env) == ["a", "b", "a b", "x y"]
    assert expand_word("${NOPE:-${A}x}", env) == "1x"
    assert expand_words("$EMPTY x a$SP", env) == ["x", "aa", "b"]  # empty unquoted expansions are no word
    assert expand_words('""', env) == [""]
    with pytest.raises(DockerfileError, match="Dockerfile:7: NOPE: required"):
        expand_word("${NOPE:?required}", env, line=7)
    with pytest.raises(DockerfileError, match="bad substitution"):
        expand_word("${A", env)


def test_env_and_label_pairs() -> None:
    f = parse('FROM a\nENV A=1 B="two words" C=$A\nENV LEGACY value with spaces\nLABEL "k.x"=v\n')
    env_new, env_old, label = f.stages[0].instructions
    assert key_values(env_new, {"A": "0"}) == [("A", "1"), ("B", "two words"), ("C", "0")]
    assert key_values(env_old, {}) == [("LEGACY", "value with spaces")]
    assert key_values(label, {}) == [("k.x", "v")]


def test_onbuild_trigger() -> None:
    ins = parse_trigger("COPY --chown=1 a /b", 3)
    assert (ins.cmd, ins.line, ins.flags, ins.args) == ("COPY", 3, (("chown", "1"),), "a /b")
