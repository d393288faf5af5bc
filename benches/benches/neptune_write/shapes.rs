//! Write shapes: what one `mergeE` request of follows costs the server, per variant of the
//! traversal, request size and serializer. One writer sends the first `NB_SHAPE_EDGES`
//! (default 50 000) edges of the headline's power-law data in consecutive requests, one at a
//! time, so that the figures compare the shapes and nothing else (no concurrency, the same
//! super-connectors in every request). Bytecode only: the shapes the sink could send to
//! Neptune. Each variant writes onto fresh vertices and is checked.

use crate::common::{self, Done, Row};
use crate::realistic::Dataset;
use neptune_batch::gremlin::{anon, Bytecode, Direction, GValue, Merge, T};
use neptune_batch::transport::{GremlinTransport, Serializer, TransportConfig};
use neptune_batch::Edge;

/// How the rows are merged.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Shape {
    /// The sink's: `g.E(ids).project('i','o','n')….fold()
    /// .sideEffect(__.constant(rows).unfold().mergeE(__.select('m'))
    /// .option(Merge.onCreate, __.select('c')))`, `m` = `{T.id}`, `c` = label, ends, properties.
    Checked,
    /// The same without the existence read: `g.inject(0).sideEffect(__.constant(rows)…)`.
    Constant,
    /// `g.inject(rows).unfold().mergeE(__.select('m')).option(Merge.onCreate, __.select('c'))`.
    Inject,
    /// As `Inject`, with the label and both ends in the search map `m` (`c` = properties).
    SearchByEnds,
    /// One `mergeE(m).option(Merge.onCreate, c)` step per edge, chained, maps as literals.
    Chained,
}

struct Variant {
    shape: Shape,
    batch: usize,
    serializer: Serializer,
}

impl Variant {
    fn name(&self) -> String {
        let shape = match self.shape {
            Shape::Checked => {
                "E(ids) read + sideEffect(constant(rows).unfold().mergeE) (the sink's)"
            }
            Shape::Constant => "inject(0).sideEffect(constant(rows).unfold().mergeE), no read",
            Shape::Inject => {
                "inject(rows).unfold().mergeE(select m).option(onCreate, select c), no read"
            }
            Shape::SearchByEnds => {
                "inject(rows).unfold().mergeE, search {id, label, OUT, IN}, no read"
            }
            Shape::Chained => "mergeE(map).option(onCreate, map) chained per edge, no read",
        };
        format!(
            "{shape}, batch {}, {}",
            self.batch,
            match self.serializer {
                Serializer::GraphSonV3 => "GraphSON",
                _ => "GraphBinary",
            }
        )
    }
}

fn props(e: &Edge) -> Vec<(GValue, GValue)> {
    e.properties
        .iter()
        .map(|(k, v)| (GValue::from(k), GValue::from(v)))
        .collect()
}

fn ends(e: &Edge) -> Vec<(GValue, GValue)> {
    vec![
        (GValue::T(T::Label), GValue::from(&e.label)),
        (GValue::Direction(Direction::Out), GValue::from(&e.from)),
        (GValue::Direction(Direction::In), GValue::from(&e.to)),
    ]
}

fn id_map(e: &Edge) -> GValue {
    GValue::Map(vec![(GValue::T(T::Id), GValue::from(&e.id))])
}

/// `{m: search, c: create}` per edge.
fn rows(edges: &[Edge], by_ends: bool) -> GValue {
    GValue::List(
        edges
            .iter()
            .map(|e| {
                let (m, c) = if by_ends {
                    let mut m = vec![(GValue::T(T::Id), GValue::from(&e.id))];
                    m.extend(ends(e));
                    (GValue::Map(m), GValue::Map(props(e)))
                } else {
                    let mut c = ends(e);
                    c.extend(props(e));
                    (id_map(e), GValue::Map(c))
                };
                GValue::Map(vec![("m".into(), m), ("c".into(), c)])
            })
            .collect(),
    )
}

fn merge_rows(t: Bytecode) -> Bytecode {
    t.then("unfold")
        .step("mergeE", [anon("select", ["m"])])
        .step(
            "option",
            [GValue::Merge(Merge::OnCreate), anon("select", ["c"]).into()],
        )
}

fn traversal(shape: Shape, edges: &[Edge]) -> Bytecode {
    match shape {
        Shape::Checked => {
            let ids: Vec<GValue> = edges.iter().map(|e| GValue::from(&e.id)).collect();
            Bytecode::new()
                .step("E", ids)
                .step("project", ["i", "o", "n"])
                .step("by", [T::Id])
                .step("by", [Bytecode::new().then("outV").then("id")])
                .step("by", [Bytecode::new().then("inV").then("id")])
                .then("fold")
                .step(
                    "sideEffect",
                    [merge_rows(anon("constant", [rows(edges, false)]))],
                )
        }
        Shape::Constant => Bytecode::new().step("inject", [GValue::Int(0)]).step(
            "sideEffect",
            [merge_rows(anon("constant", [rows(edges, false)]))],
        ),
        Shape::Inject => {
            merge_rows(Bytecode::new().step("inject", [rows(edges, false)])).then("none")
        }
        Shape::SearchByEnds => {
            merge_rows(Bytecode::new().step("inject", [rows(edges, true)])).then("none")
        }
        Shape::Chained => edges
            .iter()
            .fold(Bytecode::new(), |t, e| {
                let mut c = ends(e);
                c.extend(props(e));
                t.step("mergeE", [id_map(e)])
                    .step("option", [GValue::Merge(Merge::OnCreate), GValue::Map(c)])
            })
            .then("none"),
    }
}

/// The sink's own request for `edges`: the existence read and the merge, in one traversal.
pub fn sink_request(edges: &[Edge]) -> Bytecode {
    traversal(Shape::Checked, edges)
}

async fn write(transport: GremlinTransport, variant: &Variant, edges: &[Edge]) -> Done {
    let mut done = Done::default();
    for chunk in edges.chunks(variant.batch) {
        done.requests += 1;
        transport
            .submit(&traversal(variant.shape, chunk))
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", variant.name()));
        done.edges += chunk.len();
    }
    done
}

fn variants() -> Vec<Variant> {
    let v = |shape, batch, serializer| Variant {
        shape,
        batch,
        serializer,
    };
    let gb = Serializer::GraphBinaryV1;
    vec![
        v(Shape::Checked, 1000, gb),
        v(Shape::Constant, 1000, gb),
        v(Shape::Inject, 1000, gb),
        v(Shape::SearchByEnds, 1000, gb),
        v(Shape::Chained, 1000, gb),
        v(Shape::Checked, 1000, Serializer::GraphSonV3),
        v(Shape::Checked, 100, gb),
        v(Shape::Checked, 250, gb),
        v(Shape::Checked, 500, gb),
        v(Shape::Checked, 2000, gb),
    ]
}

/// Runs the write-shape section and prints its table.
pub async fn run(url: &str, admin: &GremlinTransport, rounds: usize) -> Vec<Row> {
    let n = common::env("NB_SHAPE_EDGES", 50_000);
    let data = Dataset::generate(
        common::env("NB_PERSONS", 10_000),
        common::env("NB_REAL_EDGES", 200_000),
    );
    let variants = variants();
    let names: Vec<String> = variants.iter().map(Variant::name).collect();
    let variants = &variants;
    let rows = common::interleaved_rounds(
        "shapes",
        url,
        admin,
        &data,
        Some(n),
        &names,
        rounds,
        |k, job| async move {
            let variant = &variants[k];
            let config = TransportConfig::builder(url)
                .serializer(variant.serializer)
                .build()
                .expect("a valid configuration");
            let transport = GremlinTransport::connect(config).await.expect("connect");
            write(transport, variant, &job.edges).await
        },
    )
    .await;
    println!();
    println!("## Write shapes: one writer, requests one at a time, the first {n} edges of the headline data (medians of {rounds} rounds)");
    println!();
    println!(
        "| shape | requests | edges/s | server CPU s / 100k edges | client CPU s / 100k edges |"
    );
    println!("|---|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {:.0} | {} | {} |",
            r.name,
            r.requests,
            r.rate(),
            r.server_per100k(),
            r.client_per100k()
        );
    }
    rows
}
