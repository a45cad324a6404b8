"""REQUESTS.json: the sample parses and round-trips; bad records are refused naming record and field."""

from __future__ import annotations

import copy
import json

import pytest

from routing.requests import RequestFormatError, parse_requests
from tests.conftest import EXAMPLES

SAMPLE = json.loads((EXAMPLES / "requests.json").read_text())


def test_sample_parses_and_round_trips() -> None:
    requests = parse_requests(SAMPLE, "requests.json")
    assert [r.id for r in requests][:3] == ["R001", "R002", "R003"]
    assert requests[0].urgent and not requests[1].urgent
    assert requests[0].ready_at.utcoffset() is not None
    assert parse_requests([r.to_dict() for r in requests]) == requests


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d.append(copy.deepcopy(d[0])), "[14] (id 'R001'): duplicate request id 'R001'"),
        (lambda d: d[3].update(deadline=d[3]["ready_at"]), "(id 'R004'): field 'deadline' must be after"),
        (lambda d: d[5].update(colour="red"), "[5] (id 'R006'): unknown field(s) 'colour'"),
        (lambda d: d[6].update(weight_kg=-1), "(id 'R007'): field 'weight_kg' must be > 0"),
        (lambda d: d[7].update(weight_kg=True), "(id 'R008'): field 'weight_kg' must be a finite number"),
        (lambda d: d[8].update(dropoff=[1, 2]), "(id 'R009'): field 'dropoff' must be an object"),
        (lambda d: d[9].update(ready_at="soon"), "(id 'R010'): field 'ready_at' is not ISO 8601"),
        (lambda d: d[10].pop("id"), "[10]: field 'id' must be a non-empty string"),
    ],
)
def test_bad_requests_are_refused(mutate, expected: str) -> None:
    data = copy.deepcopy(SAMPLE)
    mutate(data)
    with pytest.raises(RequestFormatError) as err:
        parse_requests(data, source="requests.json")
    assert str(err.value).startswith("requests.json: ")
    assert expected in str(err.value)


def test_a_document_that_is_not_a_list_is_refused() -> None:
    with pytest.raises(RequestFormatError, match=r"requests.json: \$: must be a JSON list"):
        parse_requests({"requests": []}, "requests.json")
