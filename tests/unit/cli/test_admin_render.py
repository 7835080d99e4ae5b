"""``rover admin`` output: the status table and the audit report."""

from __future__ import annotations

from protos.rover.v1 import admin_pb2
from services.cli.admin import render_audit, render_subscriptions, state_word


def test_the_status_table_shows_each_subscription_with_dashes_where_nothing_is_kept() -> None:
    text = render_subscriptions(
        [
            admin_pb2.Subscription(
                name="publisher", position=120, has_checkpoint=True, lag_events=1000,
                lag_capped=True, lag_seconds=2.5, state=admin_pb2.SUBSCRIPTION_STATE_CATCHING_UP,
                holder="host:1:a",
            ),
            admin_pb2.Subscription(
                name="projector", position=99, has_checkpoint=True, parked=2,
                state=admin_pb2.SUBSCRIPTION_STATE_DEGRADED, holder="host:2:b",
            ),
            admin_pb2.Subscription(name="broadcaster"),
        ]
    )  # fmt: skip
    assert text.splitlines() == [
        "SUBSCRIPTION STATE       POSITION    LAG LAG(S) PARKED HOLDER",
        "publisher    catching up      120 >=1000    2.5      0 host:1:a",
        "projector    degraded          99      0    0.0      2 host:2:b",
        "broadcaster  unknown            -      -      -      0 -",
    ]


def test_the_audit_report_names_each_drifted_field_and_counts_the_grids() -> None:
    drifted = admin_pb2.AuditGridsResponse(
        grid_id="g", model_version=5, store_version=7, drifted=True, behind=True,
        fields=[admin_pb2.FieldDrift(field="rovers/ghost", model="0,0 N", store="")],
    )  # fmt: skip
    behind = admin_pb2.AuditGridsResponse(
        grid_id="h", model_version=1, store_version=2, behind=True
    )
    assert render_audit([drifted, behind]).splitlines() == [
        "g: DRIFT (model v5, store v7)",
        "  rovers/ghost: model '0,0 N', store '-'",
        "h: behind (model v1, store v2)",
        "1 of 2 grid(s) drifted",
    ]
    assert render_audit([]) == "no drift: the read model agrees with the store"


def test_every_state_of_the_contract_has_a_word_and_a_stopped_one_says_why() -> None:

    words = {state_word(v) for v in admin_pb2.SubscriptionState.values()}
    assert words == {"unknown", "active", "standby", "catching up", "degraded", "stopped"}
    assert state_word(999) == "unknown"  # a state newer than this CLI
    text = render_subscriptions(
        [
            admin_pb2.Subscription(
                name="publisher",
                has_checkpoint=True,
                state=admin_pb2.SUBSCRIPTION_STATE_STOPPED,
                problem="its checkpoint names position 7, beyond the newest domain event",
            )
        ]
    )
    assert "stopped" in text.splitlines()[1]
    assert text.splitlines()[-1] == (
        "publisher: its checkpoint names position 7, beyond the newest domain event"
    )
