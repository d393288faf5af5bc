//! Names of the metrics this crate records through the `metrics` facade. Nothing is recorded
//! unless the binary installs a recorder (e.g. the workspace's CloudWatch bridge).

/// Counter: requests sent to the server, retries and bisection halves included.
/// Label `kind`: `write`, `lookup`, `diagnose`.
pub const REQUESTS: &str = "neptune_batch.requests";
/// Counter: requests sent again after a transient error. Label `reason`: the error class
/// (`concurrent_modification`, `read_only`, `throttled`, `timeout`, `connection_lost`,
/// `connect`, `protocol`).
pub const RETRIES: &str = "neptune_batch.retries";
/// Counter: items by outcome. Label `outcome`: `written`, `already_present`, `failed`.
pub const ITEMS: &str = "neptune_batch.items";
/// Counter: failing sub-batches split in two to isolate the failing items.
pub const BISECTIONS: &str = "neptune_batch.bisections";
/// Counter: sub-batches whose one-request checked merge was refused as a whole (an edge's
/// endpoint missing, an item refused) and which were then examined with separate reads and a
/// bisected write.
pub const CAREFUL_FALLBACKS: &str = "neptune_batch.careful_fallbacks";
/// Histogram: seconds per write request, as seen by the client.
pub const WRITE_SECONDS: &str = "neptune_batch.write_seconds";
/// Counter: WebSocket connections opened (a rising rate means reconnections).
pub const CONNECTIONS_OPENED: &str = "neptune_batch.connections_opened";
/// Gauge: the batch size in force (items per request), adapted or fixed.
pub const BATCH_SIZE: &str = "neptune_batch.batch_size";
/// Gauge: the limit of requests in flight at once on a sink, adapted or fixed.
pub const IN_FLIGHT_LIMIT: &str = "neptune_batch.in_flight_limit";
/// Gauge: items waiting on a sink for a request (all concurrent calls together).
pub const PENDING_ITEMS: &str = "neptune_batch.pending_items";

/// Describes every metric of this crate (unit and meaning) to the installed recorder. The sink
/// calls it when created; calling it again is harmless.
pub fn describe() {
    use metrics::Unit;
    metrics::describe_counter!(REQUESTS, Unit::Count, "requests sent to the Gremlin server");
    metrics::describe_counter!(
        RETRIES,
        Unit::Count,
        "requests sent again after a transient error"
    );
    metrics::describe_counter!(
        ITEMS,
        Unit::Count,
        "items written, already present or failed"
    );
    metrics::describe_counter!(BISECTIONS, Unit::Count, "failing sub-batches split in two");
    metrics::describe_counter!(
        CAREFUL_FALLBACKS,
        Unit::Count,
        "sub-batches examined with separate reads after their checked merge was refused"
    );
    metrics::describe_histogram!(WRITE_SECONDS, Unit::Seconds, "time per write request");
    metrics::describe_counter!(
        CONNECTIONS_OPENED,
        Unit::Count,
        "WebSocket connections opened"
    );
    metrics::describe_gauge!(BATCH_SIZE, Unit::Count, "items per request in force");
    metrics::describe_gauge!(
        IN_FLIGHT_LIMIT,
        Unit::Count,
        "limit of requests in flight at once on the sink"
    );
    metrics::describe_gauge!(PENDING_ITEMS, Unit::Count, "items waiting for a request");
}
