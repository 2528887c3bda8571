"""Fixtures for the ownership graph tests: the Neo4j test server, a driver on an empty graph, a small graph.

``neo4j_server`` comes from ``claidex_assets_tests.neo4j_server``. The import below makes it
available to this folder even when the top-level conftest does not load that module as a plugin.
Both routes share one server per test session.
"""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl
import pytest
from neo4j import Driver

from claidex_assets.neo4j_graph import clear_graph, open_driver
from claidex_assets.ownership.schema import GraphSnapshot
from claidex_assets_tests.neo4j_server import Neo4jServerInfo, neo4j_server  # noqa: F401

# Valid NPIs: the Luhn check digit over "80840" + the first nine digits is the last digit.
NPI_SMITH = "1234567893"
NPI_NURSE = "1000000004"
NPI_SNF_ROSE = "1245319599"


@pytest.fixture
def neo4j_driver(neo4j_server: Neo4jServerInfo) -> Iterator[Driver]:  # noqa: F811
    """A driver connected to the test server, whose ownership graph is empty when the test starts."""
    driver = open_driver(neo4j_server.uri, neo4j_server.user, neo4j_server.password, neo4j_server.database)
    clear_graph(driver, neo4j_server.database)
    try:
        yield driver
    finally:
        driver.close()


def small_graph() -> GraphSnapshot:
    """A hand-built graph with the hard cases of names, nulls, facilities and an ownership cycle.

    - names with a comma, doubled quotes, a line break, unicode, an empty string and a null;
    - SNF facilities with and without an npi, and an entity whose entityType is null;
    - exclusions reinstated true, false and null;
    - OWNS edges HOLD-A -> HOLD-B -> HOLD-A (a cycle) and HOLD-B -> SNF-1, HOLD-A -> SNF-2.
    """
    providers = pl.DataFrame(
        {
            "npi": [NPI_SMITH, NPI_NURSE, NPI_SNF_ROSE],
            "name": ['Smith, John "Jack"', None, "Rosé Gardens Nursing\nand Rehab"],
        }
    )
    entities = pl.DataFrame(
        {
            "entity_id": ["HOLD-A", "HOLD-B", "SNF-1", "SNF-2", "MGMT-Ø"],
            "name": ["Alpha Holdings, LLC", "", "Rosé Gardens SNF", 'The "Oaks"', None],
            "entity_type": ["HOLDING", "HOLDING", "SNF", "SNF", None],
            "npi": [None, None, NPI_SNF_ROSE, None, None],
        }
    )
    exclusions = pl.DataFrame(
        {
            "exclusion_id": ["EX-1", "EX-2", "EX-3"],
            "reinstated": [False, True, None],
        }
    )
    provider_exclusions = pl.DataFrame({"npi": [NPI_SMITH, NPI_NURSE], "exclusion_id": ["EX-1", "EX-2"]})
    entity_exclusions = pl.DataFrame({"entity_id": ["HOLD-A"], "exclusion_id": ["EX-3"]})
    owns = pl.DataFrame(
        {
            "owner_id": ["HOLD-A", "HOLD-B", "HOLD-B", "HOLD-A"],
            "owned_id": ["HOLD-B", "HOLD-A", "SNF-1", "SNF-2"],
        }
    )
    return GraphSnapshot(
        providers=providers,
        entities=entities,
        exclusions=exclusions,
        provider_exclusions=provider_exclusions,
        entity_exclusions=entity_exclusions,
        owns=owns,
    )


@pytest.fixture
def sample_graph() -> GraphSnapshot:
    return small_graph()
