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
