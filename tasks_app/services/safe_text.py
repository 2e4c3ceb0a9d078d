"""Stored text made safe for the files people download: spreadsheets, XML-based files, PDFs.

Every writer of a report goes through here, so a title that holds a control character or starts
like a formula comes out of each format the same way.
"""

from __future__ import annotations

import re
from collections.abc import Container

# What XML 1.0 cannot hold (openpyxl refuses it, a spreadsheet would not open): C0 controls
# other than tab, newline and carriage return, lone surrogates, and the non-characters FFFE/FFFF.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# OWASP "CSV injection": a cell starting with one of these is read by spreadsheets as a formula.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# Where a spreadsheet may start a cell inside one CSV value: after a comma or semicolon (the list
# separator of the reader's locale), a tab or a line end. Quoting the value does not stop it:
# Excel in a locale whose separator is ";" splits a comma-separated file at every ";" (a quote
# opens a quoted value only at the start of one of ITS values), and runs a formula even from a
# quoted value. So what follows one of these is escaped too, when a formula could start there.
_CSV_CELL_STARTS = re.compile(r'([,;\t\r\n])(?="*[=+\-@])')
REPLACEMENT = "\ufffd"  # �, what a PDF shows for a character its font lacks


def xml_safe(text: str) -> str:
    """The text without the characters an XML document (an XLSX sheet) cannot hold."""
    return _NOT_XML.sub("", text)


def spreadsheet_safe(value):
    """A cell value a spreadsheet shows as text: XML-safe, a leading formula character escaped with '.

    Values other than text (numbers, dates) pass as they are.
    """
    if not isinstance(value, str):
        return value
    text = xml_safe(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def csv_safe(value):
    """A CSV value from which no spreadsheet reads a formula, whatever separator it splits the file on:
    spreadsheet_safe, and a ' after each separator, tab or line end that a formula character follows
    (with any quotes between them): "x;=1+1" is "x;'=1+1"."""
    value = spreadsheet_safe(value)
    return _CSV_CELL_STARTS.sub(r"\1'", value) if isinstance(value, str) else value


def pdf_safe(value, drawable: Container[int]) -> str:
    """Text for a PDF: XML-safe, tabs and carriage returns as spaces, and each character that is
    not in `drawable` (the code points of its fonts) as REPLACEMENT, where fpdf2 would drop it unseen.
    """
    text = xml_safe(str(value)).replace("\t", " ").replace("\r", " ")
    return "".join(char if char == "\n" or ord(char) in drawable else REPLACEMENT for char in text)
