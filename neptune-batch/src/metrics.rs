//! Names of the metrics this crate records through the `metrics` facade. Nothing is recorded
//! unless the binary installs a recorder (e.g. the workspace's CloudWatch bridge).

/// Counter: requests sent to the server, retries and bisection halves included.
/// Label `kind`: `write`, `lookup`, `diagnose`.
pub const REQUESTS: &str = "neptune_batch.requests";
/// Counter: requests sent again after a transient error. Label `reason`: the error class
/// (`concurrent_modification`, `read_only`, `throttled`, `timeout`, `connection_lost`,
/// `connect`, `protocol`).
pub const RETRIES: &str = "neptune_batch.retries";
/// Counter: milliseconds slept, as measured, before sending a request again after a write
/// conflict (the share of wall time a writer spends waiting for other writers).
pub const CONFLICT_SLEEP_MS: &str = "neptune_batch.conflict_sleep_ms";
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

/// Registers the unit and a description of every metric this crate records, those of
/// [`crate::load::metrics`] included, with the installed recorder (so that an exporter such as
/// CloudWatch gets units instead of none). A program calls it once after installing its
/// recorder; [`GremlinTransport::connect`](crate::transport::GremlinTransport::connect) and the loaders
/// call it too. Calling it again does no harm.
pub fn describe() {
    use crate::load::metrics as load;
    use ::metrics::{describe_counter, describe_histogram, Unit};
    describe_counter!(
        REQUESTS,
        Unit::Count,
        "requests sent to the server (label kind: write, lookup, diagnose)"
    );
    describe_counter!(
        RETRIES,
        Unit::Count,
        "requests sent again after a transient error (label reason: the error class)"
    );
    describe_counter!(
        CONFLICT_SLEEP_MS,
        Unit::Milliseconds,
        "time slept before sending a request again after a write conflict"
    );
    describe_counter!(
        ITEMS,
        Unit::Count,
        "vertices and edges by outcome (label outcome: written, already_present, failed)"
    );
    describe_counter!(
        BISECTIONS,
        Unit::Count,
        "failing sub-batches split in two to isolate the failing items"
    );
    describe_counter!(
        CAREFUL_FALLBACKS,
        Unit::Count,
        "sub-batches examined with separate reads after their checked merge was refused"
    );
    describe_histogram!(
        WRITE_SECONDS,
        Unit::Seconds,
        "duration of one write request, as seen by the client"
    );
    describe_counter!(
        CONNECTIONS_OPENED,
        Unit::Count,
        "WebSocket connections opened (reconnections included)"
    );
    describe_counter!(
        load::ROWS_READ,
        Unit::Count,
        "rows read from Gremlin CSV files"
    );
    describe_counter!(
        load::BAD_LINES,
        Unit::Count,
        "CSV rows refused as bad lines"
    );
    describe_counter!(
        load::VERTICES_WRITTEN,
        Unit::Count,
        "vertices created by the vertex loader"
    );
    describe_counter!(
        load::VERTICES_ALREADY_PRESENT,
        Unit::Count,
        "vertices the vertex loader found already present"
    );
    describe_counter!(
        load::VERTICES_FAILED,
        Unit::Count,
        "vertices the sink reported as failed"
    );
    describe_counter!(
        load::BATCH_RETRIES,
        Unit::Count,
        "vertex batches sent again after a retriable error (label reason)"
    );
    describe_counter!(
        load::BULK_LOADER_RETRIES,
        Unit::Count,
        "bulk-loader HTTP requests retried (label reason: status_5xx, connect, timeout)"
    );
    describe_counter!(
        load::BULK_LOADER_POLLS,
        Unit::Count,
        "bulk-loader status polls"
    );
    ::metrics::describe_gauge!(BATCH_SIZE, Unit::Count, "items per request in force");
    ::metrics::describe_gauge!(
        IN_FLIGHT_LIMIT,
        Unit::Count,
        "limit of requests in flight at once on the sink"
    );
    ::metrics::describe_gauge!(PENDING_ITEMS, Unit::Count, "items waiting for a request");
}
