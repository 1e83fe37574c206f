#!/usr/bin/env python3
"""Writes config/grafana/dashboards/livepack.json (Grafana 10+ dashboard schema).

The dashboard is generated so its panels stay uniform; edit the PANELS table below and run
    python3 tests/prometheus/build_dashboard.py
tests/observability.rs evaluates every query of the written JSON against a real Prometheus.
"""

import json
import os

DS = {"type": "prometheus", "uid": "livepack-prometheus"}
S = 'site=~"$site"'

# (row title, [(panel title, type, unit, description, [(expr, legend)])])
ROWS = [
    ("Ingest", [
        ("Orders received / s by result", "timeseries", "ops",
         "Orders answered over the ingest WebSocket (accepted, duplicate, rejected).",
         [(f'sum by (result) (rate(livepack_orders_received_total{{{S},seller=~"$seller"}}[$__rate_interval]))', "{{result}}")]),
        ("Orders accepted, last hour, by seller", "bargauge", "short",
         "Accepted orders per seller over the last hour.",
         [(f'sum by (seller) (increase(livepack_orders_received_total{{{S},seller=~"$seller",result="accepted"}}[1h]))', "{{seller}}")]),
        ("Ack latency p50 / p99", "timeseries", "s",
         "From reading a frame to handing its ack to the socket. Target: p99 under 250 ms.",
         [('histogram_quantile(0.5, sum by (le) (rate(livepack_ingest_reply_latency_seconds_bucket{type="ack"}[$__rate_interval])))', "p50"),
          ('histogram_quantile(0.99, sum by (le) (rate(livepack_ingest_reply_latency_seconds_bucket{type="ack"}[$__rate_interval])))', "p99")]),
        ("Open ingest connections", "timeseries", "short",
         "Seller tools connected over the ingest WebSocket, per instance.",
         [('sum by (instance) (livepack_ingest_connections)', "{{instance}}")]),
    ]),
    ("Planning", [
        ("Orders waiting to be waved", "timeseries", "short",
         "Queue lag: orders stored but not yet in a wave (the planner leader's view).",
         [(f'max by (site) (livepack_planner_pending_orders{{{S}}})', "{{site}}")]),
        ("Oldest waiting order", "timeseries", "s",
         "Age of the oldest order not yet waved. Orders of a live session may be held up to max_hold_secs (30 min).",
         [(f'max by (site) (livepack_planner_oldest_pending_age_seconds{{{S}}})', "{{site}}")]),
        ("Waves released, last hour", "timeseries", "short",
         "Waves released over a rolling hour.",
         [(f'sum by (site) (increase(livepack_waves_released_total{{{S}}}[1h]))', "{{site}}")]),
        ("Orders per wave, last hour", "timeseries", "short",
         "Mean and 90th percentile of orders per released wave over a rolling hour.",
         [(f'sum by (site) (increase(livepack_wave_orders_sum{{{S}}}[1h])) / sum by (site) (increase(livepack_wave_orders_count{{{S}}}[1h]))', "{{site}} mean"),
          (f'histogram_quantile(0.9, sum by (le, site) (increase(livepack_wave_orders_bucket{{{S}}}[1h])))', "{{site}} p90")]),
        ("Orders at risk", "timeseries", "short",
         "Orders whose deadline is at risk (planner outlook), and those not packed whose pickup is within 60 minutes.",
         [(f'max by (site) (livepack_orders_at_risk{{{S}}})', "{{site}} at risk"),
          (f'max by (site) (livepack_orders_at_risk_soon{{{S}}})', "{{site}} pickup within 60 min")]),
        ("Packers needed per pickup", "timeseries", "short",
         "Packers needed to finish the work due by each pickup (planner forecast).",
         [(f'max by (site, pickup) (livepack_capacity_packers_needed{{{S}}})', "{{site}} {{pickup}}")]),
    ]),
    ("Floor", [
        ("Units picked / min", "timeseries", "short",
         "Units picked on the floor per minute.",
         [(f'60 * sum by (site) (rate(livepack_units_picked_total{{{S}}}[$__rate_interval]))', "{{site}}")]),
        ("Orders and parcels packed / min", "timeseries", "short",
         "Orders and parcels packed per minute.",
         [(f'60 * sum by (site) (rate(livepack_orders_packed_total{{{S}}}[$__rate_interval]))', "{{site}} orders"),
          (f'60 * sum by (site) (rate(livepack_parcels_packed_total{{{S}}}[$__rate_interval]))', "{{site}} parcels")]),
        ("Progress per pickup", "bargauge", "percentunit",
         "Share of the units picked and parcels packed in the waves of the next occurrence of each pickup.",
         [(f'max by (site, pickup) (livepack_pickup_units{{{S},stage="picked"}}) / clamp_min(max by (site, pickup) (livepack_pickup_units{{{S},stage="waved"}}), 1)', "{{site}} {{pickup}} picked"),
          (f'max by (site, pickup) (livepack_pickup_parcels{{{S},stage="packed"}}) / clamp_min(max by (site, pickup) (livepack_pickup_parcels{{{S},stage="waved"}}), 1)', "{{site}} {{pickup}} packed")]),
        ("Time to pickup", "timeseries", "s",
         "Time left until the next occurrence of each pickup (negative for an hour after it).",
         [(f'max by (site, pickup) (livepack_pickup_time_left_seconds{{{S}}})', "{{site}} {{pickup}}")]),
        ("Parcels still to pack per pickup", "timeseries", "short",
         "Parcels waved for the next occurrence of each pickup and not packed yet.",
         [(f'max by (site, pickup) (livepack_pickup_parcels{{{S},stage="waved"}}) - max by (site, pickup) (livepack_pickup_parcels{{{S},stage="packed"}})', "{{site}} {{pickup}}")]),
    ]),
    ("Shipping", [
        ("Parcels booked / min", "timeseries", "short",
         "Parcels booked with the carrier per minute.",
         [(f'60 * sum by (site, carrier) (rate(livepack_parcels_booked_total{{{S}}}[$__rate_interval]))', "{{site}} {{carrier}}")]),
        ("Shipments, parcels, orders (today + tomorrow)", "stat", "short",
         "Shipments of today's and tomorrow's pickups, with their parcels and orders.",
         [(f'sum by (site) (max by (site, day) (livepack_day_shipments{{{S}}}))', "{{site}} shipments"),
          (f'sum by (site) (max by (site, day) (livepack_day_parcels{{{S}}}))', "{{site}} parcels"),
          (f'sum by (site) (max by (site, day) (livepack_day_orders{{{S}}}))', "{{site}} orders")]),
        ("Consolidation savings (VND)", "timeseries", "suffix: ₫",
         "What combining a buyer's orders and one pickup per shipment saves, vs one box and one pickup per order; and the estimated cost.",
         [(f'sum by (site) (max by (site, day) (livepack_consolidation_savings_vnd{{{S}}}))', "{{site}} savings"),
          (f'sum by (site) (max by (site, day) (livepack_shipping_cost_vnd{{{S}}}))', "{{site}} cost")]),
        ("COD by seller (VND)", "bargauge", "suffix: ₫",
         "Cash on delivery the carrier collects per seller (today + tomorrow).",
         [(f'sum by (seller) (max by (site, day, seller) (livepack_day_cod_vnd{{{S},seller=~"$seller"}}))', "{{seller}}")]),
        ("Shipments booked and booking failures, last hour", "timeseries", "short",
         "Shipments whose every parcel is booked, and failed parcel bookings.",
         [(f'sum by (site) (increase(livepack_shipments_booked_total{{{S}}}[1h]))', "{{site}} shipments booked"),
          (f'sum by (site, retryable) (increase(livepack_booking_failures_total{{{S}}}[1h]))', "{{site}} failures (retryable={{retryable}})")]),
    ]),
    ("COD", [
        ("Delivered COD unpaid past schedule (parcels)", "timeseries", "short",
         "Parcels the carrier delivered more than its cod_schedule_days ago (default 15) with no payment known: no settlement row, no transfer date. Alert: LivepackCodUnpaidPastSchedule.",
         [(f'max by (site, carrier) (livepack_cod_unpaid_overdue_parcels{{{S}}})', "{{site}} {{carrier}}")]),
        ("Delivered COD unpaid past schedule (VND)", "timeseries", "suffix: ₫",
         "The COD of those parcels: money sellers wait for.",
         [(f'max by (site, carrier) (livepack_cod_unpaid_overdue_vnd{{{S}}})', "{{site}} {{carrier}}")]),
        ("Settlement rows imported, last 24 h", "bargauge", "short",
         "Rows of uploaded carrier settlement files: matched to a parcel, mismatched (wrong amount, or paid but not delivered), unknown tracking code.",
         [('sum by (carrier, result) (increase(livepack_cod_settlement_rows_total[24h]))', "{{carrier}} {{result}}")]),
    ]),
    ("Health", [
        ("Redis errors / s", "timeseries", "ops",
         "Redis commands that failed or timed out, by operation; and whether Redis answers PING.",
         [('sum by (op) (rate(livepack_redis_errors_total[$__rate_interval]))', "{{op}}"),
          ('min(livepack_redis_up)', "redis up")]),
        ("Nacks / s", "timeseries", "ops",
         "Frames nacked because storage was unavailable (the client resends them).",
         [(f'sum by (site) (rate(livepack_ingest_nacks_total{{{S}}}[$__rate_interval]))', "{{site}}")]),
        ("Dead letters", "timeseries", "short",
         "Entries in the site's dead-letter stream (planner could not read them).",
         [(f'max by (site) (livepack_dead_letters{{{S}}})', "{{site}}")]),
        ("Planner leaders per site", "timeseries", "short",
         "Instances holding each site's planner lease: 1 is right, 0 means no planner.",
         [(f'sum by (site) (livepack_planner_leader{{{S}}})', "{{site}}")]),
        ("Process memory", "timeseries", "bytes",
         "Resident memory of each livepack process.",
         [('max by (instance) (process_resident_memory_bytes)', "{{instance}} RSS")]),
        ("Process CPU", "timeseries", "percentunit",
         "CPU used by each livepack process (1 = one core).",
         [('max by (instance) (rate(process_cpu_seconds_total[$__rate_interval]))', "{{instance}}")]),
        ("HTTP requests / s", "timeseries", "reqps",
         "HTTP requests by route template and status class.",
         [('sum by (route, status) (rate(livepack_http_requests_total[$__rate_interval]))', "{{route}} {{status}}")]),
        ("HTTP p99 latency", "timeseries", "s",
         "99th percentile of HTTP request latency by route template.",
         [('histogram_quantile(0.99, sum by (le, route) (rate(livepack_http_request_duration_seconds_bucket[$__rate_interval])))', "{{route}}")]),
    ]),
]


def panel(pid, title, kind, unit, desc, targets, x, y, w, h):
    p = {
        "id": pid,
        "type": kind,
        "title": title,
        "description": desc,
        "datasource": DS,
        "gridPos": {"h": h, "w": w, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [
            {"refId": chr(ord("A") + i), "datasource": DS, "expr": expr,
             "legendFormat": legend, "range": True, "instant": False}
            for i, (expr, legend) in enumerate(targets)
        ],
    }
    if kind == "timeseries":
        p["fieldConfig"]["defaults"]["custom"] = {"lineWidth": 2, "fillOpacity": 10, "showPoints": "never"}
        p["options"] = {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                        "tooltip": {"mode": "multi", "sort": "desc"}}
    elif kind == "bargauge":
        p["options"] = {"orientation": "horizontal", "displayMode": "gradient",
                        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}}
        if unit == "percentunit":
            p["fieldConfig"]["defaults"].update({"min": 0, "max": 1})
    elif kind == "stat":
        p["options"] = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                        "textMode": "value_and_name", "colorMode": "none", "graphMode": "area"}
    if title.startswith("Ack latency"):
        p["fieldConfig"]["defaults"]["thresholds"] = {
            "mode": "absolute", "steps": [{"color": "green", "value": None}, {"color": "red", "value": 0.25}]}
        p["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"] = {"mode": "line"}
    return p


def variable(name, label, query):
    return {
        "name": name, "label": label, "type": "query", "datasource": DS,
        "definition": query, "query": {"query": query, "refId": f"{name}-values"},
        "refresh": 2, "includeAll": True, "multi": True, "allValue": ".*", "sort": 1,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
    }


def dashboard():
    panels, pid, y = [], 1, 0
    for title, items in ROWS:
        panels.append({"id": pid, "type": "row", "title": title, "collapsed": False,
                       "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
        pid, y = pid + 1, y + 1
        per_line = 4 if len(items) in (4, 8) else 3
        w = 24 // per_line
        for i, item in enumerate(items):
            x = (i % per_line) * w
            if i and i % per_line == 0:
                y += 8
            panels.append(panel(pid, *item, x=x, y=y, w=w, h=8))
            pid += 1
        y += 8
    return {
        "uid": "livepack",
        "title": "livepack: orders, waves, floor, shipping",
        "description": "Livestream order surges: ingest, planning, packing floor, shipping, health.",
        "tags": ["livepack"],
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "timezone": "browser",
        "annotations": {"list": [{
            "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
            "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
            "name": "Annotations & Alerts", "type": "dashboard"}]},
        "templating": {"list": [
            variable("site", "Site", "label_values(livepack_planner_leader, site)"),
            variable("seller", "Seller", 'label_values(livepack_orders_received_total{site=~"$site"}, seller)'),
        ]},
        "panels": panels,
    }


if __name__ == "__main__":
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = os.path.join(root, "config", "grafana", "dashboards", "livepack.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(dashboard(), f, indent=2, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {out}")
