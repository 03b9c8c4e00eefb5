"""A small, strict-where-it-matters HL7 v2 ER7 ("pipe and hat") parser: segments, fields, components.

Written here rather than taken from python-hl7 or hl7apy: both let IndexError/AssertionError escape on
damaged input (python-hl7 0.4.5: hl7.parse("MSH") raises IndexError; hl7apy 1.3.5 the same on some
mangled headers), and a codec may only raise CodecError. The part of ER7 that PCD-01 needs is small.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_SEGMENT_ID = re.compile(r"[A-Z][A-Z0-9]{2}")
_HEX_PAIRS = re.compile(r"(?:[0-9A-Fa-f]{2})+")
_SEGMENT_END = re.compile(r"\r\n|\r|\n")  # the standard says CR; some serial exporters send CR LF or LF


class Hl7SyntaxError(ValueError):
    """Text that is not an HL7 v2 message (internal: the codec turns it into an AE/AR or a count)."""


@dataclass(frozen=True, slots=True)
class Delimiters:
    """MSH-1 and MSH-2: field, component, repetition, escape and subcomponent separators."""

    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"

    @property
    def encoding(self) -> str:
        """MSH-2 as it is written."""
        return self.component + self.repetition + self.escape + self.subcomponent

    def escape_text(self, text: str) -> str:
        """Text made safe for one ER7 field (delimiters become escape sequences, line ends spaces)."""
        e = self.escape
        out = text.replace(e, f"{e}E{e}")
        for char, code in ((self.field, "F"), (self.component, "S"), (self.repetition, "R"),
                           (self.subcomponent, "T")):
            out = out.replace(char, f"{e}{code}{e}")
        return out.replace("\r", " ").replace("\n", " ")


def read_delimiters(text: str) -> Delimiters:
    """The delimiters an MSH segment declares; Hl7SyntaxError if they are missing or ambiguous."""
    if not text.startswith("MSH") or len(text) < 5:
        raise Hl7SyntaxError("no MSH segment")
    sep = text[3]
    end = text.find(sep, 4)
    encoding = _SEGMENT_END.split(text[4:end] if end >= 0 else text[4:], 1)[0]
    chars = sep + encoding[:4]
    # Delimiters must be distinct punctuation; a letter, digit or line end here means a damaged header.
    if (not encoding or len(set(chars)) != len(chars)
            or any(c.isalnum() or c.isspace() or not c.isprintable() for c in chars)):
        raise Hl7SyntaxError("bad MSH delimiters")
    # Fewer than four encoding characters is legal (old senders); the rest take their defaults.
    rest = dict(zip(("repetition", "escape", "subcomponent"), encoding[1:4], strict=False))
    d = Delimiters(field=sep, component=encoding[0], **rest)
    if len({d.field, d.component, d.repetition, d.escape, d.subcomponent}) != 5:
        raise Hl7SyntaxError("MSH delimiters collide with the defaults")
    return d


def unescape(text: str, d: Delimiters) -> str:
    """Resolve \\F\\ \\S\\ \\T\\ \\R\\ \\E\\ and \\Xhh\\; other escapes (formatting) are dropped."""
    e = d.escape
    if e not in text:
        return text
    out: list[str] = []
    pos = 0
    while (start := text.find(e, pos)) >= 0:
        end = text.find(e, start + 1)
        if end < 0:
            break  # an escape character with no closing one is taken literally
        out.append(text[pos:start])
        code = text[start + 1:end]
        simple = {"F": d.field, "S": d.component, "T": d.subcomponent, "R": d.repetition, "E": e}
        if code in simple:
            out.append(simple[code])
        elif code[:1] == "X" and _HEX_PAIRS.fullmatch(code[1:]):
            out.append(bytes.fromhex(code[1:]).decode("latin-1"))
        pos = end + 1
    out.append(text[pos:])
    return "".join(out)


@dataclass(frozen=True, slots=True)
class Segment:
    """One segment; fields are numbered as in the standard (MSH-1 is the field separator itself)."""

    name: str
    fields: tuple[str, ...]  # raw (escaped) text; fields[0] is the segment name
    delimiters: Delimiters

    def raw(self, n: int) -> str:
        """Field n as sent, escapes and all; "" if absent."""
        return self.fields[n] if 0 <= n < len(self.fields) else ""

    def components(self, n: int) -> list[str]:
        """Field n's first repetition split into unescaped components (at least one, maybe "")."""
        first = self.raw(n).split(self.delimiters.repetition, 1)[0]
        return [unescape(c.split(self.delimiters.subcomponent, 1)[0], self.delimiters)
                for c in first.split(self.delimiters.component)]

    def component(self, n: int, c: int) -> str:
        """Component c (1-based) of field n, unescaped; "" if absent."""
        parts = self.components(n)
        return parts[c - 1] if 0 < c <= len(parts) else ""

    def repetitions(self, n: int) -> list[str]:
        """Field n's repetitions, each unescaped whole (for simple repeating values like OBX-8)."""
        raw = self.raw(n)
        return [unescape(r, self.delimiters) for r in raw.split(self.delimiters.repetition)] if raw else []


@dataclass(frozen=True, slots=True)
class Message:
    """A parsed message: its delimiters and segments in order (MSH first)."""

    delimiters: Delimiters
    segments: tuple[Segment, ...]

    @property
    def msh(self) -> Segment:
        """The header segment."""
        return self.segments[0]


def parse_message(text: str) -> Message:
    """Parse one message; Hl7SyntaxError if the header or any segment's name is malformed."""
    text = text.strip("\r\n\t \x00")
    d = read_delimiters(text)
    segments: list[Segment] = []
    for line in _SEGMENT_END.split(text):
        if not line.strip():
            continue
        fields = line.split(d.field)
        name = fields[0]
        if not _SEGMENT_ID.fullmatch(name):
            raise Hl7SyntaxError(f"bad segment name {name[:8]!r}")
        if name == "MSH":
            if segments:
                raise Hl7SyntaxError("a second MSH in one message")
            # MSH-1 is the separator itself, so MSH field n sits at split index n - 1.
            fields = ["MSH", d.field, *fields[1:]]
        segments.append(Segment(name, tuple(fields), d))
    if not segments or segments[0].name != "MSH":
        raise Hl7SyntaxError("no MSH segment")
    return Message(d, tuple(segments))


def salvage_header(text: str) -> Segment | None:
    """The MSH of a message that did not parse, well enough to address an error ACK; None if hopeless."""
    first = _SEGMENT_END.split(text.lstrip("\r\n\t \x00"), 1)[0]
    if not first.startswith("MSH") or len(first) < 4:
        return None
    try:
        d = read_delimiters(first)
    except Hl7SyntaxError:
        sep = first[3]
        usable = sep not in "^~\\&" and sep.isprintable() and not sep.isalnum()
        d = Delimiters(field=sep) if usable else Delimiters()
    fields = first.split(d.field)
    return Segment("MSH", ("MSH", d.field, *fields[1:]), d)
