//! The Prometheus text exposition format (version 0.0.4) of every core's
//! counters: one family per measure, a `core` label on each sample.

use std::fmt::Write as _;

use super::{Counter, Counters, BUCKETS_MS, METHODS, STATUSES};

/// A family of one sample per core: name, type, help, the counter.
type Family = (
    &'static str,
    &'static str,
    &'static str,
    fn(&Counters) -> &Counter,
);

/// The whole page.
pub(crate) fn render(cores: &[std::sync::Arc<Counters>]) -> String {
    let mut out = String::with_capacity(4096 + cores.len() * 2048);
    let family = |out: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    };
    let per_core =
        |out: &mut String, name: &str, kind: &str, help: &str, get: &dyn Fn(&Counters) -> u64| {
            family(out, name, kind, help);
            for (core, c) in cores.iter().enumerate() {
                let _ = writeln!(out, "{name}{{core=\"{core}\"}} {}", get(c));
            }
        };

    family(
        &mut out,
        "percore_requests_total",
        "counter",
        "Requests answered, by method (a refused request is \"other\").",
    );
    for (core, c) in cores.iter().enumerate() {
        for (m, n) in METHODS.iter().zip(&c.requests) {
            let _ = writeln!(
                out,
                "percore_requests_total{{core=\"{core}\",method=\"{m}\"}} {}",
                n.get()
            );
        }
    }
    family(
        &mut out,
        "percore_responses_total",
        "counter",
        "Responses given, by status class.",
    );
    for (core, c) in cores.iter().enumerate() {
        for (s, n) in STATUSES.iter().zip(&c.responses) {
            let _ = writeln!(
                out,
                "percore_responses_total{{core=\"{core}\",status=\"{s}\"}} {}",
                n.get()
            );
        }
    }
    family(
        &mut out,
        "percore_request_duration_seconds",
        "histogram",
        "From a request's dispatch to its answer (millisecond resolution).",
    );
    for (core, c) in cores.iter().enumerate() {
        let mut cumulative = 0;
        for (le, n) in BUCKETS_MS.iter().zip(&c.time_buckets) {
            cumulative += n.get();
            let le = *le as f64 / 1000.0;
            let _ = writeln!(
                out,
                "percore_request_duration_seconds_bucket{{core=\"{core}\",le=\"{le}\"}} {cumulative}"
            );
        }
        cumulative += c.time_buckets[BUCKETS_MS.len()].get();
        let sum = c.time_sum_ms.get() as f64 / 1000.0;
        let _ = writeln!(
            out,
            "percore_request_duration_seconds_bucket{{core=\"{core}\",le=\"+Inf\"}} {cumulative}\n\
             percore_request_duration_seconds_sum{{core=\"{core}\"}} {sum}\n\
             percore_request_duration_seconds_count{{core=\"{core}\"}} {cumulative}"
        );
    }
    let simple: [Family; 15] = [
        (
            "percore_received_bytes_total",
            "counter",
            "Bytes received from clients.",
            |c| &c.bytes_in,
        ),
        (
            "percore_sent_bytes_total",
            "counter",
            "Bytes sent to clients.",
            |c| &c.bytes_out,
        ),
        (
            "percore_connections_accepted_total",
            "counter",
            "Connections accepted.",
            |c| &c.accepted,
        ),
        (
            "percore_connections_closed_total",
            "counter",
            "Connections closed.",
            |c| &c.closed,
        ),
        (
            "percore_connection_cap_waits_total",
            "counter",
            "Times clients were found waiting in the listen backlog while the core held server.max_connections.",
            |c| &c.cap_waits,
        ),
        (
            "percore_connections_closed_at_cap_total",
            "counter",
            "Idle keep-alive connections closed at server.max_connections so waiting clients are served (oldest idle first).",
            |c| &c.closed_at_cap,
        ),
        (
            "percore_accept_errors_total",
            "counter",
            "Accepts that failed for want of resources (ENFILE, ENOMEM...); accepting pauses 100 ms after each.",
            |c| &c.accept_errors,
        ),
        (
            "percore_tls_handshakes_total",
            "counter",
            "TLS handshakes completed.",
            |c| &c.tls_handshakes,
        ),
        (
            "percore_tls_handshake_failures_total",
            "counter",
            "TLS handshakes that failed.",
            |c| &c.tls_failures,
        ),
        (
            "percore_recv_buffers_exhausted_total",
            "counter",
            "Receives re-armed because the provided buffer ring ran dry (ENOBUFS).",
            |c| &c.recv_buffers_exhausted,
        ),
        (
            "percore_sq_full_total",
            "counter",
            "Submissions that waited in the backlog for a full submission queue.",
            |c| &c.sq_full,
        ),
        (
            "percore_ops_cancelled_total",
            "counter",
            "Ring operations cancelled.",
            |c| &c.ops_cancelled,
        ),
        (
            "percore_file_cache_hits_total",
            "counter",
            "Static file lookups answered by the cache.",
            |c| &c.file_cache_hits,
        ),
        (
            "percore_file_cache_misses_total",
            "counter",
            "Static file lookups that opened the file.",
            |c| &c.file_cache_misses,
        ),
        (
            "percore_file_cache_evictions_total",
            "counter",
            "Static file cache entries evicted.",
            |c| &c.file_cache_evictions,
        ),
    ];
    for (name, kind, help, get) in simple {
        per_core(&mut out, name, kind, help, &|c| get(c).get());
    }
    per_core(
        &mut out,
        "percore_connections_open",
        "gauge",
        "Connections open now.",
        &|c| c.accepted.get().saturating_sub(c.closed.get()),
    );
    per_core(
        &mut out,
        "percore_recv_buffers_free",
        "gauge",
        "Provided receive buffers free in the core's ring (of ring.buffers), as of its last loop turn.",
        &|c| c.recv_buffers_free.get(),
    );
    out
}
