"""Fixtures of the stage-2 reading tests: the example world, and stage 2 over its routes (a
test module that defines its own ``world`` uses that one)."""

from __future__ import annotations

import pytest
from factories import World, make_world

from authz.stages.operation import OperationStage


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return make_world(tmp_path_factory.mktemp("reading"))


@pytest.fixture(scope="module")
def stage(world: World) -> OperationStage:
    config = world.config()
    return OperationStage(config.routes, config.max_body_bytes)
