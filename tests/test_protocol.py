"""Pure tests of the wire contract: exact JSON, round trips, every invalid payload."""

from __future__ import annotations

import json

import pytest

from tourpanel import protocol as p

STAMP = "2025-01-08T10:50:00.000Z"


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        # The lesson's shapes, byte for byte as JSON.stringify writes them.
        (
            p.Welcome(message="Bienvenue sur le serveur de nombres aléatoires!", timestamp=STAMP),
            '{"type":"WELCOME","message":"Bienvenue sur le serveur de nombres aléatoires!",'
            '"timestamp":"2025-01-08T10:50:00.000Z"}',
        ),
        (
            p.RandomNumber(value=42, timestamp=STAMP),
            '{"type":"RANDOM_NUMBER","value":42,"timestamp":"2025-01-08T10:50:00.000Z"}',
        ),
        (
            p.InitialState(
                tour_id="tour_paris",
                tour_name="Paris City Tour",
                available_seats=20,
                timestamp=STAMP,
            ),
            '{"type":"INITIAL_STATE","tourId":"tour_paris","tourName":"Paris City Tour",'
            '"availableSeats":20,"timestamp":"2025-01-08T10:50:00.000Z"}',
        ),
        # Extensions append their fields after the lesson's.
        (
            p.AvailabilityUpdate(
                tour_id="tour_rome",
                tour_name="Rome Colosseum Tour",
                available_seats=18,
                timestamp=STAMP,
                seq=7,
                epoch="abc",
                reset=True,
            ),
            '{"type":"AVAILABILITY_UPDATE","tourId":"tour_rome","tourName":"Rome Colosseum Tour",'
            '"availableSeats":18,"timestamp":"2025-01-08T10:50:00.000Z","seq":7,"epoch":"abc",'
            '"reset":true}',
        ),
        (p.Ping(), '{"type":"PING"}'),
        (
            p.Subscribed(tour_id="tour_rome", tour_ids=("tour_paris", "tour_rome")),
            '{"type":"SUBSCRIBED","tourId":"tour_rome","tourIds":["tour_paris","tour_rome"]}',
        ),
        (
            p.Error(code="bad_json", message="nope"),
            '{"type":"ERROR","code":"bad_json","message":"nope"}',
        ),
    ],
)
def test_encode_is_exact_and_round_trips(message: p.Message, expected: str) -> None:
    assert p.encode(message) == expected
    assert p.decode(expected) == message


def test_encode_writes_utf8_text_not_escapes() -> None:
    text = p.encode(p.Welcome(message="Connecté au serveur de disponibilité des tours"))
    assert "Connecté" in text
    assert "\\u" not in text


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0, "1970-01-01T00:00:00.000Z"),
        (1736333400.5, "2025-01-08T10:50:00.500Z"),
        (1736333400.9999, "2025-01-08T10:50:00.999Z"),  # truncated like Date, never rounded up
    ],
)
def test_format_timestamp_matches_javascript(seconds: float, expected: str) -> None:
    assert p.format_timestamp(seconds) == expected
    assert p.parse_timestamp(expected).timestamp() == pytest.approx(seconds, abs=1e-3)


@pytest.mark.parametrize("text", ["yesterday", "2025-01-08T10:50:00", ""])
def test_parse_timestamp_rejects_non_utc_dates(text: str) -> None:
    with pytest.raises(p.ProtocolError) as info:
        p.parse_timestamp(text)
    assert info.value.code is p.ErrorCode.BAD_FIELD


def test_decode_ignores_fields_it_does_not_know() -> None:
    message = p.decode('{"type":"RANDOM_NUMBER","value":3,"timestamp":"t","colour":"blue"}')
    assert message == p.RandomNumber(value=3, timestamp="t")


@pytest.mark.parametrize(
    ("payload", "code", "mentions"),
    [
        ("{", p.ErrorCode.BAD_JSON, "not valid JSON"),
        ("[" * 5000 + "]" * 5000, p.ErrorCode.BAD_JSON, "nested too deeply"),
        ('{"type": "RESUME", "seq": ' + "9" * 5000 + "}", p.ErrorCode.BAD_JSON, "digits"),
        (b"\xff\xfe", p.ErrorCode.BAD_JSON, "not valid JSON"),
        ("[1, 2]", p.ErrorCode.BAD_MESSAGE, "JSON object"),
        ("42", p.ErrorCode.BAD_MESSAGE, "JSON object"),
        ('{"tourId": "tour_paris"}', p.ErrorCode.BAD_MESSAGE, "'type'"),
        ('{"type": 5}', p.ErrorCode.BAD_MESSAGE, "'type'"),
        ('{"type": "DANCE"}', p.ErrorCode.UNKNOWN_TYPE, "'DANCE'"),
        ('{"type": "subscribe", "tourId": "tour_paris"}', p.ErrorCode.UNKNOWN_TYPE, "subscribe"),
        ('{"type": "WELCOME", "message": "hi"}', p.ErrorCode.UNKNOWN_TYPE, "sent by the server"),
        ('{"type": "SUBSCRIBE"}', p.ErrorCode.BAD_FIELD, "'tourId'"),
        ('{"type": "SUBSCRIBE", "tourId": 3}', p.ErrorCode.BAD_FIELD, "must be a string"),
        ('{"type": "UNSUBSCRIBE", "tourId": null}', p.ErrorCode.BAD_FIELD, "must be a string"),
        ('{"type": "RESUME", "epoch": "e"}', p.ErrorCode.BAD_FIELD, "'seq'"),
        ('{"type": "RESUME", "epoch": "e", "seq": "4"}', p.ErrorCode.BAD_FIELD, "an integer"),
        ('{"type": "RESUME", "epoch": "e", "seq": true}', p.ErrorCode.BAD_FIELD, "an integer"),
        ('{"type": "RESUME", "epoch": "e", "seq": 1.5}', p.ErrorCode.BAD_FIELD, "an integer"),
        ('{"type": "RESUME", "epoch": "e", "seq": -1}', p.ErrorCode.BAD_FIELD, "0 or more"),
        ('{"type": "RESUME", "epoch": 1, "seq": 1}', p.ErrorCode.BAD_FIELD, "a string"),
    ],
)
def test_decode_client_rejects_invalid_payloads(
    payload: str | bytes, code: p.ErrorCode, mentions: str
) -> None:
    with pytest.raises(p.ProtocolError) as info:
        p.decode_client(payload)
    assert info.value.code is code
    assert mentions in info.value.message


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"type": "PING"}, p.Ping()),
        ({"type": "SUBSCRIBE", "tourId": "tour_rome"}, p.Subscribe(tour_id="tour_rome")),
        ({"type": "UNSUBSCRIBE", "tourId": "tour_rome"}, p.Unsubscribe(tour_id="tour_rome")),
        ({"type": "RESUME", "epoch": "e1", "seq": 0, "x": 1}, p.Resume(epoch="e1", seq=0)),
    ],
)
def test_decode_client_accepts_client_messages(
    payload: dict[str, object], expected: p.Message
) -> None:
    assert p.decode_client(json.dumps(payload)) == expected


def test_decode_rejects_list_with_non_strings() -> None:
    with pytest.raises(p.ProtocolError, match="must list strings"):
        p.decode('{"type":"SUBSCRIBED","tourId":"a","tourIds":["a", 1]}')
