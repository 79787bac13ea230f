from genvid.errors import first_line


def test_first_line_of_an_error():
    assert first_line(ValueError("bad value\n  detail")) == "bad value"
    assert first_line(EOFError()) == "EOFError"
    assert first_line(KeyError("x"), with_type=True) == "KeyError: 'x'"
    assert first_line(OSError("  \n"), with_type=True) == "OSError"
