//! Requests queued on the server: what the sink's request would gain if the server held the
//! next one ready behind the one running, instead of waiting a round trip for it.
//!
//! Gremlin Server runs the requests of one session one after another, in the order they
//! arrive, each committed on its own ([`Request::Session`]). One writer sends the headline's
//! edges in order, as the sink's own request (the existence read and the merge), either one
//! at a time without a session, or with 2 or 3 requests queued in one session; the script
//! of the headline's ceiling, one at a time, is the reference. No shards and no concurrency
//! between writers: one transaction at a time, so no vertex is ever contended, whatever the
//! super-connectors. These rows isolate what queuing gives; the sink at its defaults queues
//! its merges this way wherever the server commits each request of a session
//! (`Scheduling::SessionQueue`), with shards, calls and keys as in the headline.

use crate::common::{self, Done, Row};
use crate::realistic::Dataset;
use crate::shapes;
use futures::stream::{FuturesOrdered, StreamExt};
use neptune_batch::transport::{GremlinTransport, Request, TransportConfig};
use neptune_batch::Edge;

/// How a row sends its requests.
#[derive(Clone, Copy)]
enum Mode {
    /// The sink's request, one at a time, no session.
    OneAtATime,
    /// The sink's request, up to `n` sent and unanswered, in one session.
    Queued(usize),
    /// The headline's ceiling script, one at a time.
    Script,
}

struct Variant {
    name: &'static str,
    mode: Mode,
    batch: usize,
}

fn variants() -> Vec<Variant> {
    let v = |name, mode, batch| Variant { name, mode, batch };
    vec![
        v(
            "the sink's request, batch 1000, one at a time",
            Mode::OneAtATime,
            1000,
        ),
        v(
            "the sink's request, batch 2000, one at a time",
            Mode::OneAtATime,
            2000,
        ),
        v(
            "the sink's request, batch 1000, 2 queued in one session",
            Mode::Queued(2),
            1000,
        ),
        v(
            "the sink's request, batch 2000, 2 queued in one session",
            Mode::Queued(2),
            2000,
        ),
        v(
            "the sink's request, batch 2000, 3 queued in one session",
            Mode::Queued(3),
            2000,
        ),
        v(
            "reference: the ceiling's script per 2000 edges, one at a time",
            Mode::Script,
            2000,
        ),
    ]
}

async fn write(transport: GremlinTransport, variant: &Variant, edges: &[Edge]) -> Done {
    let mut done = Done::default();
    let session = local_services::unique_name("bench-session");
    let depth = match variant.mode {
        Mode::Queued(n) => n,
        Mode::OneAtATime | Mode::Script => 1,
    };
    let mut sent = FuturesOrdered::new();
    for chunk in edges.chunks(variant.batch) {
        let request = match variant.mode {
            Mode::OneAtATime => Request::Bytecode(shapes::sink_request(chunk)),
            Mode::Queued(_) => Request::Session {
                traversal: shapes::sink_request(chunk),
                session: session.clone(),
            },
            Mode::Script => Request::Eval {
                script: common::CEILING_SCRIPT.into(),
                bindings: common::ceiling_bindings(chunk),
            },
        };
        let (t, n) = (transport.clone(), chunk.len());
        sent.push_back(async move { t.request(&request).await.map(|_| n) });
        done.requests += 1;
        // Futures are polled in the order pushed, so the requests leave in order on the
        // transport's one connection.
        while sent.len() >= depth {
            let answered = sent.next().await.expect("a request in flight");
            done.edges += answered.unwrap_or_else(|e| panic!("{}: {e}", variant.name));
        }
    }
    while let Some(answered) = sent.next().await {
        done.edges += answered.unwrap_or_else(|e| panic!("{}: {e}", variant.name));
    }
    done
}

/// Runs the section and prints its table.
pub async fn run(url: &str, admin: &GremlinTransport, rounds: usize) -> Vec<Row> {
    let data = Dataset::generate(
        common::env("NB_PERSONS", 10_000),
        common::env("NB_REAL_EDGES", 200_000),
    );
    let variants = variants();
    let names: Vec<String> = variants.iter().map(|v| v.name.to_owned()).collect();
    let variants = &variants;
    let rows = common::interleaved_rounds(
        "sessions",
        url,
        admin,
        &data,
        None,
        &names,
        rounds,
        |k, job| async move {
            // One connection: a session is bound to the connection of its first request.
            let config = TransportConfig::builder(url)
                .pool_size(1)
                .build()
                .expect("a valid configuration");
            let transport = GremlinTransport::connect(config).await.expect("connect");
            write(transport, &variants[k], &job.edges).await
        },
    )
    .await;
    let script = rows.last().map(Row::rate).unwrap_or(f64::NAN);
    println!();
    println!("## Requests queued on the server: one writer, the headline's {} edges in order, the sink's request (existence read and merge) or the script (medians of {rounds} rounds)", data.follows.len());
    println!();
    println!(
        "| writer | requests | edges/s | of the script | server CPU s / 100k edges | client CPU s / 100k edges |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {:.0} | {:.2} | {} | {} |",
            r.name,
            r.requests,
            r.rate(),
            r.rate() / script,
            r.server_per100k(),
            r.client_per100k()
        );
    }
    rows
}
