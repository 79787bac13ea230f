import pytest

from genvid.configcheck import parse_field_value


def test_field_values_parse_as_their_field_type():
    assert parse_field_value("--set a", "TRUE", bool) is True
    assert parse_field_value("--set a", "64", int) == 64
    assert parse_field_value("--set a", "1e-3", float) == 1e-3
    with pytest.raises(ValueError, match=r"^--param n: 'many' is not a valid int$"):
        parse_field_value("--param n", "many", int)
    with pytest.raises(ValueError, match="'yes' is not a valid bool"):
        parse_field_value("--set a", "yes", bool)
