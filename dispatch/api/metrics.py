"""``/metrics`` (no key): Prometheus text exposition format 0.0.4.

Names (all prefixed ``dronedispatch_``):

============================================ ========= ==================================================
``requests{state}``                          gauge     requests in each state
``deliveries_total``                         counter   requests delivered
``deliveries_on_time_total``                 counter   of those, delivered by their deadline
``on_time_ratio``                            gauge     on time / delivered (NaN before the first delivery)
``telemetry_messages_total``                 counter   telemetry samples the link received
``telemetry_messages_per_second``            gauge     over about the last 10 s
``plan_seconds_last``                        gauge     wall time of the last planning round
``plan_seconds``                             histogram wall time of the planning rounds
``plan_seconds_max``                         gauge     wall time of the longest planning round
``plan_rounds_total``                        counter   planning rounds
``event_loop_lag_seconds``                   histogram how late the event loop woke a 50 ms timer
``event_loop_lag_seconds_max``               gauge     the largest of those lags
``missions_total``                           counter   missions committed by this dispatcher
``reroutes_total``                           counter   flights re-routed around a new zone
``cancel_steers_total``                      counter   flights re-routed to take a cancelled request off
``geofence_breaches_total``                  counter   breaches reported by drones
``terrain_violations_total``                 counter   terrain clearance or ceiling breaks reported by drones
``separation_losses_total``                  counter   losses of separation reported by drones
``weather_holds_total``                      counter   trips kept on the ground by the weather or a grounding
``weather_returns_total``                    counter   drones in the air turned back by the weather ahead
``area_grounded``                            gauge     1 while an operator has grounded the area
``nonconformance_total``                     counter   flights found outside their operational intent
``flights_nonconforming``                    gauge     flights outside their operational intent now
``events_refused_total``                     counter   events naming a mission not the drone's current one
``drones_online``                            gauge     drones with fresh telemetry
``link_connected``                           gauge     1 when the broker link is up
``link_dropped_messages_total``              counter   invalid or spoofed messages dropped by the link
``authority_reports_sent_total``             counter   authority reports delivered (only with reports on)
``authority_reports_retried_total``          counter   authority report attempts that failed
``authority_reports_rejected_total``         counter   authority reports refused (4xx but 408/425/429)
``authority_reports_dropped_total``          counter   position reports dropped past the backlog's bound
``authority_backlog``                        gauge     authority reports not yet delivered
``authority_lag_seconds``                    gauge     wall seconds the oldest undelivered report waited
``authority_approvals_total``                counter   approval requests by ``outcome`` (approval mode)
============================================ ========= ==================================================
"""

from __future__ import annotations

import math

from litestar import Response, get
from litestar.datastructures import State

from dispatch.api.routes_requests import ctx_of
from dispatch.authority.reporter import AuthorityReporter
from dispatch.service.approvals import ApprovalStats
from dispatch.service.loop_lag import LAG_BUCKETS
from dispatch.service.operations import delivery_counts

PLAN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CONTENT_TYPE = "text/plain; version=0.0.4"  # Litestar appends "; charset=utf-8" to text/ types


def _num(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(float(v)) if not float(v).is_integer() else str(int(v))


class _Text:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def metric(self, name: str, kind: str, help_: str, samples: list[tuple[str, float]]) -> None:
        """One metric: its HELP and TYPE lines, then its samples (``suffix`` is labels or _bucket...)."""
        full = f"dronedispatch_{name}"
        self.lines += [f"# HELP {full} {help_}", f"# TYPE {full} {kind}"]
        self.lines += [f"{full}{suffix} {_num(v)}" for suffix, v in samples]


@get("/metrics", summary="Prometheus metrics", tags=["operations"], media_type=CONTENT_TYPE)
async def metrics(state: State) -> Response[str]:
    """Counters and gauges of requests, deliveries, telemetry, planning and re-routes."""
    ctx = ctx_of(state)
    d, link = ctx.dispatcher, ctx.dispatcher.link
    counts = await ctx.store.requests.counts()
    delivered, on_time = await delivery_counts(ctx.store)
    plan = list(d.stats.plan_wall_s)
    out = _Text()
    out.metric(
        "requests",
        "gauge",
        "Requests by state.",
        [(f'{{state="{s}"}}', n) for s, n in sorted(counts.items())],
    )
    out.metric("deliveries_total", "counter", "Requests delivered.", [("", delivered)])
    out.metric(
        "deliveries_on_time_total", "counter", "Requests delivered by their deadline.", [("", on_time)]
    )
    out.metric(
        "on_time_ratio",
        "gauge",
        "Share of deliveries made by their deadline.",
        [("", on_time / delivered if delivered else math.nan)],
    )
    out.metric(
        "telemetry_messages_total", "counter", "Telemetry samples received.", [("", link.stats.telemetry)]
    )
    out.metric(
        "telemetry_messages_per_second",
        "gauge",
        "Telemetry samples per second (last ~10 s).",
        [("", ctx.feed.telemetry_rate())],
    )
    out.metric(
        "plan_seconds_last",
        "gauge",
        "Wall time of the last planning round.",
        [("", plan[-1] if plan else math.nan)],
    )
    buckets = [(f'_bucket{{le="{b:g}"}}', float(sum(1 for t in plan if t <= b))) for b in PLAN_BUCKETS]
    buckets += [('_bucket{le="+Inf"}', float(len(plan))), ("_sum", sum(plan)), ("_count", float(len(plan)))]
    out.metric("plan_seconds", "histogram", "Wall time of the planning rounds.", buckets)
    out.metric(
        "plan_seconds_max",
        "gauge",
        "Wall time of the longest planning round.",
        [("", max(plan, default=math.nan))],
    )
    out.metric("plan_rounds_total", "counter", "Planning rounds.", [("", d.stats.plan_rounds)])
    lag = d.stats.loop_lag
    lag_buckets = [
        (f'_bucket{{le="{b:g}"}}', float(n)) for b, n in zip(LAG_BUCKETS, lag.buckets, strict=True)
    ]
    lag_buckets += [
        ('_bucket{le="+Inf"}', float(lag.count)),
        ("_sum", lag.sum_s),
        ("_count", float(lag.count)),
    ]
    out.metric(
        "event_loop_lag_seconds",
        "histogram",
        "How late the dispatcher's event loop woke a 50 ms timer.",
        lag_buckets,
    )
    out.metric("event_loop_lag_seconds_max", "gauge", "The largest event-loop lag.", [("", lag.max_s)])
    out.metric("missions_total", "counter", "Missions committed.", [("", d.stats.missions)])
    out.metric("reroutes_total", "counter", "Flights re-routed around a new zone.", [("", d.stats.reroutes)])
    out.metric(
        "cancel_steers_total",
        "counter",
        "Flights re-routed to take a cancelled request off.",
        [("", d.stats.cancel_steers)],
    )
    out.metric("geofence_breaches_total", "counter", "Geofence breaches reported.", [("", d.stats.breaches)])
    out.metric(
        "terrain_violations_total",
        "counter",
        "Terrain clearance or true-height ceiling violations reported.",
        [("", d.stats.terrain_violations)],
    )
    out.metric(
        "separation_losses_total",
        "counter",
        "Losses of separation reported.",
        [("", d.stats.separation_losses)],
    )
    out.metric(
        "weather_holds_total",
        "counter",
        "Trips kept on the ground by the weather or a grounding.",
        [("", d.stats.weather_holds)],
    )
    out.metric(
        "weather_returns_total",
        "counter",
        "Drones in the air turned back by the weather ahead.",
        [("", d.stats.weather_returns)],
    )
    out.metric(
        "area_grounded",
        "gauge",
        "1 while an operator has grounded the area.",
        [("", float(d.weather.grounded is not None))],
    )
    out.metric(
        "nonconformance_total",
        "counter",
        "Times a flight's telemetry left its operational intent.",
        [("", d.conformance.total)],
    )
    out.metric(
        "flights_nonconforming",
        "gauge",
        "Flights whose telemetry is outside their operational intent now.",
        [("", d.conformance.nonconforming())],
    )
    out.metric(
        "events_refused_total",
        "counter",
        "Drone events refused: they name a mission that is not the drone's current one.",
        [("", sum(d.stats.refused_events.values()))],
    )
    out.metric(
        "drones_online",
        "gauge",
        "Drones with fresh telemetry.",
        [("", len(link.registry.online_ids(ctx.now_clock.now())))],
    )
    out.metric(
        "link_connected", "gauge", "1 when the broker link is up.", [("", 1.0 if link.connected else 0.0)]
    )
    out.metric(
        "link_dropped_messages_total",
        "counter",
        "Invalid messages dropped by the link.",
        [("", link.stats.dropped_total)],
    )
    if ctx.authority is not None:
        authority_metrics(out, ctx.authority)
    if d.approvals.approver is not None:
        approval_metrics(out, d.approvals.stats)
    return Response("\n".join(out.lines) + "\n", media_type=CONTENT_TYPE)


def authority_metrics(out: _Text, reporter: AuthorityReporter) -> None:
    """The authority adapter's delivery (docs/authority.md#metrics)."""
    st = reporter.sender.stats
    out.metric("authority_reports_sent_total", "counter", "Authority reports delivered.", [("", st.sent)])
    out.metric(
        "authority_reports_retried_total",
        "counter",
        "Authority report attempts that failed.",
        [("", st.retried)],
    )
    out.metric(
        "authority_reports_rejected_total", "counter", "Authority reports refused (4xx).", [("", st.rejected)]
    )
    out.metric(
        "authority_reports_dropped_total",
        "counter",
        "Position reports dropped past the backlog's bound.",
        [("", reporter.backlog.dropped)],
    )
    out.metric(
        "authority_backlog", "gauge", "Authority reports not yet delivered.", [("", len(reporter.backlog))]
    )
    out.metric(
        "authority_lag_seconds",
        "gauge",
        "How long the oldest undelivered authority report has waited.",
        [("", reporter.sender.lag_s())],
    )


ROUTES = [metrics]


def approval_metrics(out: _Text, st: ApprovalStats) -> None:
    """Approval mode's requests by outcome (docs/authority.md#approval-mode)."""
    outcomes = [
        ("asked", st.asked),
        ("approved", st.approved),
        ("denied", st.denied),
        ("timeout", st.timeouts),
    ]
    out.metric(
        "authority_approvals_total",
        "counter",
        "Approval requests for flights into controlled airspace, by outcome.",
        [(f'{{outcome="{k}"}}', v) for k, v in outcomes],
    )
