"""Split a `command`/`entrypoint` string into words the way Docker Compose does.

Compose splits with the rules of mattn/go-shellwords (no environment or backtick expansion),
which differ from POSIX `sh` and from Python's `shlex`:

* `'...'` keeps everything literally; `"..."` keeps everything but a backslash escapes any
  character (`"a\\nb"` gives `anb`); outside quotes a backslash also escapes any character.
* A word next to quotes joins them (`a"b c"d` is one word); `""` is an empty word.
* An unquoted `;`, `&`, `|`, `<` or `>` ends the command: what follows is dropped
  (`echo a; echo b` gives `echo a`); before `>`, a word starting with a digit (`2>`) is dropped too.
* `` `...` `` and `$(...)` are kept as they are, spaces included; any other unquoted `(` or an
  unbalanced `)` is an error, as are unclosed quotes and a trailing lone backslash.
"""

from __future__ import annotations

_SPACE = " \t\r\n"
_STOP = ";&|<>"


def split_command(line: str) -> list[str]:
    """The words of `line`; ValueError when compose would refuse it ("invalid command line string")."""
    words: list[str] = []
    word: list[str] = []
    in_word = False  # a word has started, maybe empty ("")
    escaped = single = double = backtick = dollar = False
    for char in line:
        if escaped:
            word.append(char)
            escaped, in_word = False, True
            continue
        if char == "\\":
            if single:
                word.append(char)
            else:
                escaped = True
            continue
        if char in _SPACE:
            if single or double or backtick or dollar:
                word.append(char)
            elif in_word:
                words.append("".join(word))
                word, in_word = [], False
            continue
        if char == "`" and not (single or double or dollar):
            backtick = not backtick
        elif char == ")" and not (single or double or backtick):
            dollar = not dollar
        elif char == "(" and not (single or double or backtick):
            if dollar or not word or word[-1] != "$":
                raise ValueError("unexpected '(' (quote it, or write $(...))")
            dollar = True
        elif char == '"' and not (single or dollar):
            double = not double
            in_word = True
            continue
        elif char == "'" and not (double or dollar):
            single = not single
            in_word = True
            continue
        elif char in _STOP and not (single or double or backtick or dollar):
            if char == ">" and word and word[0] in "0123456789":
                in_word = False
            break
        word.append(char)
        in_word = True
    if escaped or single or double or backtick or dollar:
        what = "a quote" if single or double else "`...`" if backtick else "$(...)" if dollar else "an escape"
        raise ValueError(f"unterminated {what}")
    if in_word:
        words.append("".join(word))
    return words
