"""The coverage page (``/-/coverage``): how coverage moves, at a glance.

Three charts a morning reader asks for: articles per day per source over the last 90 days,
stories covered by several sources, and crawl health per source (runs by status per day).
The figures are computed here in SQL and handed to the page as JSON data (not as script), and
the page draws them with Chart.js served from the plugin's own static files: no CDN, so the
page works offline and under the review server's Content-Security-Policy.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from datasette.utils.asgi import NotFound, Response

DAYS = 90

# By publication day, over the 90 days up to the newest article (today, in a live archive;
# an archive of older stories, such as a backfill or the offline demo, still shows its own).
ARTICLES_END = """
select min((select substr(coalesce(published, first_seen), 1, 10) from articles
            order by substr(coalesce(published, first_seen), 1, 10) desc limit 1),
           strftime('%Y-%m-%d', 'now'))
"""  # the newest day through the day index (m013), not a scan of every article
ARTICLES_PER_DAY = f"""
select substr(coalesce(published, first_seen), 1, 10) as day, source, count(*) as articles
from articles
where day > date(:end, '-{DAYS} days') and day <= :end
group by day, source order by day, source
"""
RUNS_PER_DAY = f"""
select substr(started, 1, 10) as day, source, status, count(*) as runs
from crawl_runs
where started >= strftime('%Y-%m-%d', 'now', '-{DAYS} days') and status != 'running'
  and {{kind}}
group by day, source, status order by day, source, status
"""
MULTI_SOURCE_STORIES = """
select s.id, s.title, s.first_published, s.articles, s.sources
from stories s
where json_array_length(s.sources) > 1
order by s.last_published desc limit 20
"""


async def coverage(datasette: Any, request: Any) -> Response:
    names = [name for name in datasette.databases if name != "_internal"]
    if not names:
        raise NotFound("no database")
    name = request.args.get("database") or names[0]
    if name not in names:
        raise NotFound(f"no database {name}")
    db = datasette.get_database(name)
    tables = set(await db.table_names())
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    end = (await db.execute(ARTICLES_END)).first()[0] or today
    data = {
        "days": DAYS,
        "articles_end": end,
        "runs_end": today,
        "articles_per_day": await _rows(db, ARTICLES_PER_DAY, end=end)
        if "articles" in tables
        else [],
        "runs_per_day": await _runs(db) if "crawl_runs" in tables else [],
        "stories": await _rows(db, MULTI_SOURCE_STORIES) if "stories" in tables else None,
    }
    html = await datasette.render_template(
        "coverage.html",
        {
            "database": name,
            "data": data,
            "data_json": json.dumps(data).replace("</", "<\\/"),
            "chart_js": datasette.urls.static_plugins("newsmon", "vendor/chart-4.6.1.umd.min.js"),
            "coverage_js": datasette.urls.static_plugins("newsmon", "coverage.js"),
        },
        request=request,
    )
    return Response.html(html)


async def _rows(db: Any, sql: str, **params: str) -> list[dict[str, Any]]:
    result = await db.execute(sql, params)
    return [dict(row) for row in result.rows]


async def _runs(db: Any) -> list[dict[str, Any]]:
    # Backfill runs (crawl_runs.kind) say nothing about the health of the live crawl.
    columns = await db.table_columns("crawl_runs")
    kind = "coalesce(kind, 'crawl') = 'crawl'" if "kind" in columns else "1"
    return await _rows(db, RUNS_PER_DAY.format(kind=kind))
