"""A longer scenario mixing Tinybird's clients against one live Roost, the way a backend would use them:
``tb`` pushes the project and manages per-user tokens, the Python SDK and verdin ingest, verdin queries the
endpoint as each user, and token changes (update, refresh, delete) take effect on the very next request.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.clients.conftest import Tb, jwt_from
from tests.clients.helpers import (
    count,
    csv_text,
    datasource_file,
    expected,
    pipe_file,
    rows,
    scopes,
    token_file,
    wait_count,
)
from tests.support.server import RoostServer, wait_until


def as_rows(data: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"user_id": x["user_id"], "n": int(x["n"]), "total": float(x["total"])} for x in data]


def test_shop_backend_with_tinybirds_clients(tb_factory, verdin, sdk, roost: RoostServer,  # type: ignore[no-untyped-def]
                                             http: httpx.Client, unique: str) -> None:
    from tb.a.datasource import AsyncDatasource
    from tb.datasource import Datasource
    from verdin.pipe import PipeError

    p = unique
    ds, pipe = f"{p}_shop", f"{p}_sales"
    tb: Tb = tb_factory(name="shop")
    admin = verdin()

    # 1. the project: a data source with an APPEND token, an endpoint with a READ token; `tb push` of the folder
    tb.write(f"datasources/{ds}.datasource", datasource_file(token_append=f"{p}_ingest"))
    tb.write(f"pipes/{pipe}.pipe", pipe_file(ds, reader_token=f"{p}_dashboard"))
    r = tb("push")
    assert f"'{ds}' created" in r.out and f"'{pipe}' created" in r.out
    # a .token file names the pipe: pushed once the pipe exists (tb orders .token files before pipes)
    tb.write(f"tokens/{p}_ops.token", token_file(pipe, ds, description="operations"))
    tb("push", f"tokens/{p}_ops.token")
    ingest = admin.api.tokens.get_information(f"{p}_ingest").info
    assert {(s["type"], s["resource"]) for s in ingest["scopes"]} == {("DATASOURCES:APPEND", ds)}

    # 2. ingest with every client; the ingest token can append but not read
    data: list[dict[str, Any]] = []
    batch = rows(["alice", "bob"], per_user=6)
    with Datasource(ds, ingest["token"], api_url=roost.url) as source:
        for x in batch:
            source << x
    data += batch

    batch = rows(["carol"], per_user=6, start_day=3)

    async def async_ingest(records: list[dict[str, Any]]) -> None:
        source = AsyncDatasource(ds, ingest["token"], api_url=roost.url)
        for x in records:
            await source.append(x)
        await source.flush()  # close() alone drops unflushed rows
        await source.close()

    asyncio.run(async_ingest(batch))
    data += batch

    batch = rows(["alice", "dave"], per_user=3, start_day=10)
    verdin(ingest["token"]).datasource(ds).append_ndjson(batch)
    data += batch
    batch = rows(["bob"], per_user=3, start_day=12)
    assert verdin(ingest["token"]).datasource(ds).send_events(batch, wait=True).successful_rows == 3
    data += batch
    batch = rows(["carol", "dave"], per_user=3, start_day=14)
    tb.write("more.csv", csv_text(batch))
    tb("datasource", "append", ds, "more.csv")
    data += batch
    assert wait_count(http, ds, len(data)) == len(data)
    with pytest.raises(PipeError):
        verdin(ingest["token"]).pipe(pipe).query()

    # 3. one token per user, created with tb; values read through the API (tb masks them)
    users = ["alice", "bob", "carol"]
    for u in users:
        tb("token", "create", "static", f"{p}_{u}", "--scope", "PIPES:READ", "--resource", pipe,
           "--scope", "DATASOURCES:READ", "--resource", ds, "--filter", f"user_id = '{u}'")
    value = {u: admin.api.tokens.get_information(f"{p}_{u}").info["token"] for u in users}
    listed = tb("token", "ls", "--match", p).out
    assert all(f"{p}_{u}" in listed for u in users)
    assert all(v not in listed for v in value.values())

    # 4. each user, through verdin, gets exactly their rows from the same endpoint and from SQL
    def check_user(u: str, who: list[str]) -> None:
        client = verdin(value[u])
        for ev in ("view", "cart", "purchase"):
            want = [x for x in expected(data, ev) if x["user_id"] in who]
            assert as_rows(client.pipe(pipe).query({"event_type": ev}).data) == want, (u, ev)
        got = client.sql(f"SELECT user_id, count() AS c FROM {ds} GROUP BY user_id ORDER BY user_id").json().data
        assert got == [{"user_id": w, "c": sum(1 for x in data if x["user_id"] == w)} for w in sorted(who)
                       if any(x["user_id"] == w for x in data)]

    for u in users:
        check_user(u, [u])
    dashboard = admin.api.tokens.get_information(f"{p}_dashboard").info["token"]
    assert as_rows(verdin(dashboard).pipe(pipe).query().data) == expected(data)

    # 5. permission change: bob now sees his team (bob and carol) — a .token file pushed with --force
    tb.write(f"tokens/{p}_bob.token", "DESCRIPTION >\n    bob manages carol\n\n"
             f"SCOPE PIPES:READ\nRESOURCE {pipe}\n\n"
             f"SCOPE DATASOURCES:READ\nRESOURCE {ds}\nFILTER user_id IN ('bob', 'carol')\n")
    tb("push", f"tokens/{p}_bob.token", "--force")
    assert admin.api.tokens.get_information(f"{p}_bob").info["token"] == value["bob"]
    check_user("bob", ["bob", "carol"])

    # 6. refresh alice: the old value is refused at once, the new one works
    old = value["alice"]
    tb("token", "refresh", f"{p}_alice", "--yes")
    value["alice"] = admin.api.tokens.get_information(f"{p}_alice").info["token"]
    assert value["alice"] != old
    with pytest.raises(PipeError) as refused:
        verdin(old).pipe(pipe).query()
    assert refused.value.response.status_code == 403
    check_user("alice", ["alice"])

    # 7. carol leaves: her token is deleted and refused; her rows stay (bob still sees them)
    tb("token", "rm", f"{p}_carol", "--yes")
    with pytest.raises(PipeError) as gone:
        verdin(value.pop("carol")).pipe(pipe).query()
    assert gone.value.response.status_code == 403
    check_user("bob", ["bob", "carol"])

    # 8. more events after the token changes reach the users at once
    batch = rows(["alice"], per_user=3, start_day=20)
    with Datasource(ds, ingest["token"], api_url=roost.url) as source:
        for x in batch:
            source << x
    data += batch
    assert wait_count(http, ds, len(data)) == len(data)
    check_user("alice", ["alice"])

    # 9. the pipe re-pushed with --force (tb's regression check replays the recorded calls first; the request
    # log is written in batches off the request path, so wait until it holds them)
    logged = f"SELECT count() AS c FROM tinybird.pipe_stats_rt WHERE pipe_name = '{pipe}' FORMAT JSON"
    assert wait_until(lambda: http.get("/v0/sql", params={"q": logged}).json()["data"][0]["c"] > 0, 15)
    r = tb("push", f"pipes/{pipe}.pipe", "--force")
    assert f"{pipe}__checker" in r.out
    assert scopes(admin.api.tokens.get_information(f"{p}_dashboard").info) == {("PIPES:READ", pipe, "")}
    check_user("alice", ["alice"])
    check_user("bob", ["bob", "carol"])

    # 10. tb with a user's own token: tb sql and tb pipe data see that user's rows only
    as_alice = tb_factory(token=value["alice"], name="alice")
    got = as_alice("sql", f"SELECT DISTINCT user_id FROM {ds}", "--format", "json").json()["data"]
    assert got == [{"user_id": "alice"}]
    got = as_alice("pipe", "data", pipe, "--event_type", "cart", "--format", "json").json()["data"]
    assert as_rows(got) == expected(data, "cart", user="alice")

    # 11. a JWT for dave (no stored token), used by verdin
    r = tb("token", "create", "jwt", f"{p}_dave", "--ttl", "1h", "--scope", "DATASOURCES:READ", "--resource", ds,
           "--filter", "user_id = 'dave'", "--scope", "PIPES:READ", "--resource", pipe)
    assert as_rows(verdin(jwt_from(r.out)).pipe(pipe).query().data) == expected(data, user="dave")

    # 12. carol's rows deleted with tb: bob's team view shrinks
    tb("datasource", "delete", ds, "--sql-condition", "user_id = 'carol'", "--yes", "--wait")
    data = [x for x in data if x["user_id"] != "carol"]
    assert count(http, ds) == len(data)
    check_user("bob", ["bob"])

    # 13. truncate: every user gets no rows; tokens still valid
    tb("datasource", "truncate", ds, "--yes")
    data = []
    for u in value:
        assert verdin(value[u]).pipe(pipe).query().data == []
    assert {t["name"] for t in admin.api.tokens.list().tokens} >= {f"{p}_alice", f"{p}_bob", f"{p}_ops"}
