"""tinybird-python-sdk 0.3.7 (module ``tb``), unchanged, against a live Roost: it appends through the Events
API (``wait=false``: 202 once durable), so the tests poll until the rows are visible, then read them back.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from tests.clients.helpers import count, rows, sql, wait_count
from tests.support.server import RoostServer

SCHEMA = ("`timestamp` DateTime `json:$.timestamp`, `user_id` String `json:$.user_id`, "
          "`event_type` String `json:$.event_type`, `price` Float64 `json:$.price`")


def make_ds(http: httpx.Client, name: str) -> str:
    r = http.post("/v0/datasources", data={"name": name, "schema": SCHEMA})
    assert r.status_code == 200, r.text
    return name


def read_back(http: httpx.Client, ds: str) -> list[dict[str, object]]:
    return sql(http, f"SELECT toString(timestamp) AS timestamp, user_id, event_type, price FROM {ds} "
                     "ORDER BY user_id, timestamp, event_type")


def test_sync_datasource(sdk, roost: RoostServer, http: httpx.Client, unique: str) -> None:  # type: ignore[no-untyped-def]
    from tb.datasource import Datasource

    ds = make_ds(http, f"{unique}_sync")
    data = rows(["s1", "s2"], per_user=5)
    with Datasource(ds, roost.admin_token, api_url=roost.url) as source:
        for i, r in enumerate(data):
            if i % 3 == 0:
                source << json.dumps(r)  # a string row
            elif i % 3 == 1:
                source += r  # type: ignore[assignment]
            else:
                source.append(r)
    assert wait_count(http, ds, len(data)) == len(data)
    assert read_back(http, ds) == sorted(data, key=lambda x: (x["user_id"], x["timestamp"], x["event_type"]))

    # an explicit flush, then more rows
    source = Datasource(ds, roost.admin_token, api_url=roost.url)
    source << rows(["s3"], per_user=1)[0]
    source.buffer.flush()
    assert wait_count(http, ds, 1, "user_id = 's3'") == 1


def test_sync_datasource_with_an_append_token_and_a_read_only_one(sdk, roost: RoostServer,  # type: ignore[no-untyped-def]
                                                                  http: httpx.Client, unique: str) -> None:
    import requests
    from tb.datasource import Datasource

    ds = make_ds(http, f"{unique}_tok")
    appender = http.post("/v0/tokens", params=[("name", f"{unique}_app"), ("scope", f"DATASOURCES:APPEND:{ds}")])
    reader = http.post("/v0/tokens", params=[("name", f"{unique}_ro"), ("scope", f"DATASOURCES:READ:{ds}")])
    assert appender.status_code == 200 and reader.status_code == 200
    with Datasource(ds, appender.json()["token"], api_url=roost.url) as source:
        source << rows(["a1"], per_user=2)[0]
    assert wait_count(http, ds, 1) == 1
    with pytest.raises(requests.HTTPError) as e:
        with Datasource(ds, reader.json()["token"], api_url=roost.url) as source:
            source << rows(["a2"], per_user=1)[0]
    assert e.value.response.status_code == 403
    assert count(http, ds, "user_id = 'a2'") == 0


def test_async_datasource(sdk, roost: RoostServer, http: httpx.Client, unique: str) -> None:  # type: ignore[no-untyped-def]
    from tb.a.datasource import AsyncDatasource

    ds = make_ds(http, f"{unique}_async")
    data = rows(["a1", "a2", "a3"], per_user=4)

    async def main() -> None:
        source = AsyncDatasource(ds, roost.admin_token, api_url=roost.url)
        for r in data[:6]:
            await source.append(r)
        for r in data[6:]:
            await (source << r)  # type: ignore[operator]
        # the SDK's close() drops unflushed rows (it sets its shutdown flag first): flush, then close
        await source.flush()
        await source.close()

    asyncio.run(main())
    assert wait_count(http, ds, len(data)) == len(data)
    assert read_back(http, ds) == sorted(data, key=lambda x: (x["user_id"], x["timestamp"], x["event_type"]))
