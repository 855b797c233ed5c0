import msgspec
import pytest

from tocsin.core.jsondecode import decode, split_error


class Inner(msgspec.Struct, forbid_unknown_fields=True):
    name: str


class Outer(msgspec.Struct, forbid_unknown_fields=True):
    items: list[Inner] = []
    labels: dict[str, str] = {}
    count: int = 0


def error_of(body: bytes) -> msgspec.ValidationError:
    with pytest.raises(msgspec.ValidationError) as exc:
        msgspec.json.decode(body, type=Outer)
    return exc.value


@pytest.mark.parametrize(
    ("body", "path", "message"),
    [
        (b'{"count": "x"}', "count", "Expected `int`, got `str`"),
        (b'{"items": [{"name": "a"}, {"name": 1}]}', "items[1].name", "Expected `str`, got `int`"),
        (b'{"items": [{}]}', "items[0].name", "Object missing required field `name`"),
        (b'{"colour": 1}', "colour", "Object contains unknown field `colour`"),
        (b'{"items": [{"name": "a", "x": 1}]}', "items[0].x", "Object contains unknown field `x`"),
        (b"[]", "", "Expected `object`, got `array`"),
    ],
)
def test_split_error_names_the_field_and_keeps_msgspecs_message(body, path, message):
    assert split_error(error_of(body)) == (path, message)


def test_split_error_takes_the_text_too():
    assert split_error("Expected `int`, got `str` - at `$.count`") == ("count", "Expected `int`, got `str`")
    assert split_error("Number out of range") == ("", "Number out of range")


def test_json_nested_too_deeply_is_a_decode_error():
    with pytest.raises(msgspec.DecodeError, match="nested too deeply"):
        decode(msgspec.json.Decoder(), b"[" * 100_000 + b"]" * 100_000)
