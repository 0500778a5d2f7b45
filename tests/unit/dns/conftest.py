from __future__ import annotations

import pytest
from dns_helpers import sample_responder

from hatoba.dns import Responder


@pytest.fixture
def responder() -> Responder:
    return sample_responder()
