"""The InfluxQL client the dashboards use: :mod:`storage.influxql`, re-exported.

``/query`` over HTTP as Grafana's InfluxDB datasource calls it (1.x user/password, 2.x DBRP,
3.x token); results as :class:`Series` per statement, times in integer ms by default.
"""

from __future__ import annotations

from storage.influxql import InfluxQLClient, Series

__all__ = ["InfluxQLClient", "Series"]
