"""``lobstream producer`` as a real subprocess (see :mod:`tests.plugins.service`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pytest

from tests.plugins.service import ServiceFactory, ServiceProcess

ProducerFactory = Callable[[Mapping[str, str]], ServiceProcess]


@pytest.fixture
def producer_factory(service_factory: ServiceFactory) -> ProducerFactory:
    """``factory(env) -> ServiceProcess`` running ``lobstream producer``."""
    return lambda env: service_factory("producer", env)
