"""MTL-NAS search space and gate helpers, independent of the supernet."""

import numpy as np
import pytest

from tfmtl.methods.mtl_nas import gates, search_space


def test_candidate_edges_stay_in_stage_and_window():
    stage_of = [0, 0, 0, 1, 1]
    edges = search_space.candidate_edges(2, (0, 1, 2, 3, 4), stage_of, 2)
    assert edges[0] == [
        (0, 1, 0),
        (1, 1, 0),
        (1, 1, 1),
        (2, 1, 1),
        (2, 1, 2),
        (3, 1, 3),
        (4, 1, 3),
        (4, 1, 4),
    ]
    assert {s for _, s, _ in edges[1]} == {0}


def test_architecture_round_trips_through_initial_alpha():
    tasks = ("a", "b")
    edges = search_space.candidate_edges(2, (0, 1), [0, 0], 2)
    alpha = np.array([[0.5, -1.0, 2.0], [0.0, 1.0, -3.0]], np.float32)
    arch = search_space.architecture_dict(tasks, edges, alpha, 2)
    assert [e["keep"] for e in arch["edges"][:3]] == [True, False, True]
    np.testing.assert_allclose(
        search_space.initial_alpha(tasks, edges, 9.0, arch), alpha
    )
    np.testing.assert_allclose(
        search_space.initial_alpha(tasks, edges, 9.0), np.full((2, 3), 9.0)
    )


def test_edge_costs_and_gate_modes():
    edges = [[(0, 1, 0), (1, 1, 0)], [(0, 0, 0), (1, 0, 0)]]
    shapes = [[(1, 4, 4, 2), (1, 4, 4, 6)]] * 2
    np.testing.assert_allclose(
        search_space.edge_costs(edges, shapes, True), [[0.5, 1.5]] * 2
    )
    np.testing.assert_allclose(
        search_space.edge_costs(edges, shapes, False), np.ones((2, 2))
    )
    alpha = np.array([[-1.0, 2.0]], np.float32)
    np.testing.assert_array_equal(
        gates.gate_values(alpha, "hard", 1.0), [[0, 1]]
    )
    with pytest.raises(ValueError, match="Unknown gate mode"):
        gates.check_gate_mode("soft")
