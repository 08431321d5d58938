"""The demo: an ``events`` data source with 1,000,000 deterministic e-commerce rows, the
``ecommerce_example`` endpoint and three user tokens that each see only their own rows.

``roost serve --demo`` loads it once (it is skipped when ``events`` already exists) and prints the
curl commands that show each user getting different rows from the same endpoint.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from roost.pipes import SYSTEM

if TYPE_CHECKING:
    from roost.runtime import Runtime

ROWS = 1_000_000
USERS = 1_000
DEMO_USERS = (1, 2, 3)

SCHEMA = (
    "`timestamp` DateTime `json:$.timestamp`, "
    "`user_id` UInt32 `json:$.user_id`, "
    "`event_type` LowCardinality(String) `json:$.event_type`, "
    "`product_id` String `json:$.product_id`, "
    "`price` Float64 `json:$.price`"
)

ENDPOINT_SQL = """%
SELECT
    toDate(timestamp) AS day,
    event_type,
    count() AS events,
    round(sum(price), 2) AS revenue
FROM events
WHERE toDate(timestamp) >= {{ Date(start, '2026-01-01', description="First day (YYYY-MM-DD)") }}
{% if defined(end) %}
    AND toDate(timestamp) <= {{ Date(end, description="Last day (YYYY-MM-DD)") }}
{% end %}
{% if defined(event_type) %}
    AND event_type = {{ String(event_type, description="view, cart or purchase") }}
{% end %}
GROUP BY day, event_type
ORDER BY day DESC, event_type
LIMIT {{ Int32(limit, 100, description="Maximum rows") }}
"""

# Deterministic rows generated inside the engine: row n of a 90-day window from 2026-01-01.
GENERATE = """
INSERT INTO {table} (timestamp, user_id, event_type, product_id, price)
SELECT
    toDateTime('2026-01-01 00:00:00') + intDiv(number * 7776000, {rows}) AS timestamp,
    toUInt32(1 + (cityHash64(number, 'u') % {users})) AS user_id,
    ['view', 'view', 'view', 'cart', 'purchase'][1 + cityHash64(number, 'e') % 5] AS event_type,
    concat('p_', toString(cityHash64(number, 'p') % 5000)) AS product_id,
    round(1 + (cityHash64(number, 'm') % 20000) / 100, 2) AS price
FROM numbers({rows})
"""


def setup_demo(rt: Runtime, rows: int = ROWS, quiet: bool = False) -> dict[str, Any]:
    tokens: dict[str, str] = {}
    if rt.catalog.get_datasource("events") is None:
        ds = rt.datasources.create({"name": "events", "schema": SCHEMA, "engine": "MergeTree",
                                    "engine_sorting_key": "user_id, timestamp",
                                    "engine_partition_key": "toYYYYMM(timestamp)",
                                    "description": "Demo e-commerce events"})
        rt.engine.command(GENERATE.format(table=rt.datasources.table(ds), rows=rows, users=USERS),
                          settings={"insert_deduplicate": 0})
        rt.engine.command(f"OPTIMIZE TABLE {rt.datasources.table(ds)} FINAL")
        rt.logs.ops("append", ds, rows=rows, options={"source": "demo"})
    if rt.catalog.get_pipe("ecommerce_example") is None:
        rt.pipes.create({"name": "ecommerce_example", "description": "Daily events and revenue per event type",
                         "nodes": [{"name": "endpoint", "sql": ENDPOINT_SQL, "type": "endpoint",
                                    "description": "Per-day counts for the caller's rows"}]})
    for uid in DEMO_USERS:
        name = f"user_{uid}"
        rec = rt.catalog.get_token(name)
        if rec is None:
            rec = rt.tokens.create(SYSTEM, name=name, description=f"Demo user {uid}: sees only user_id = {uid}",
                                   scopes=["PIPES:READ:ecommerce_example", f"DATASOURCES:READ:events:user_id={uid}"])
        tokens[name] = rec["value"]
    if not quiet:
        base = rt.settings.base_url
        out = sys.stderr
        print("\nDemo loaded: data source 'events' (1,000,000 rows), endpoint 'ecommerce_example'.", file=out)
        print("Each demo user's token sees only its own rows. Try:\n", file=out)
        for name, value in tokens.items():
            print(f"  # {name}", file=out)
            print(f"  curl -s '{base}/v0/pipes/ecommerce_example.json?limit=3' -H 'Authorization: Bearer {value}'",
                  file=out)
        print(f"\n  # the web UI (sign in with the admin token or a user token): {base}/ui/", file=out)
        print(f"\n  # the same endpoint as the admin (all users):\n  curl -s '{base}/v0/pipes/ecommerce_example.json"
              f"?limit=3' -H \"Authorization: Bearer $(cat {rt.data_dir}/admin-token)\"\n", file=out)
    return tokens
