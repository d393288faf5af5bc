//! The original notebook's queries on the growing graph, run as bytecode (values as arguments)
//! against the reader endpoint.

use crate::bytecode::{anon, Bytecode};
use crate::follows::FollowsSchema;
use crate::graphson::{Column, GValue, Order, T};
use crate::transport::{GremlinError, GremlinTransport};

/// A vertex id with a degree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Degree {
    /// The vertex id.
    pub id: String,
    /// Its number of `follows` edges in the asked direction.
    pub degree: i64,
}

/// A recommended person.
#[derive(Debug, Clone, PartialEq)]
pub struct Recommendation {
    /// `firstName`.
    pub first_name: Option<GValue>,
    /// `lastName`.
    pub last_name: Option<GValue>,
    /// The numeric `id` property (distinct from the vertex id).
    pub id: Option<GValue>,
    /// Paths from the person to the candidate (friends-of-friends reaching it).
    pub count: i64,
}

/// Runs [`top_degree`] on the reader and reads its rows.
async fn top_degrees(
    reader: &GremlinTransport,
    direction: &str,
    schema: &FollowsSchema,
    among: Option<&[String]>,
    limit: i64,
) -> Result<Vec<Degree>, GremlinError> {
    let rows = reader
        .submit(&top_degree(direction, &schema.edge_label, among, limit))
        .await?;
    rows.iter()
        .map(|r| {
            Some(Degree {
                id: r.get("v")?.id_text()?,
                degree: r.get("degree")?.as_i64()?,
            })
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| GremlinError::Protocol("a degree row without v or degree".into()))
}

fn top_degree(direction: &str, label: &str, among: Option<&[String]>, limit: i64) -> Bytecode {
    // g.V().project('v','degree').by(id).by(inE('follows').count())
    //  .order().by(select('degree'), desc).select('v','degree').limit(10)
    let ids: Vec<GValue> = among.unwrap_or_default().iter().map(GValue::from).collect();
    Bytecode::new()
        .step("V", ids)
        .step("project", ["v", "degree"])
        .step("by", [T::Id])
        .step("by", [anon(direction, [label]).then("count")])
        .then("order")
        .step(
            "by",
            [GValue::from(anon("select", ["degree"])), Order::Desc.into()],
        )
        .step("select", ["v", "degree"])
        .step("limit", [limit])
}

/// Q1 "people with the most followers": the `limit` vertices with most incoming edges, over
/// the whole graph (`among: None`, the notebook's query) or among the given vertex ids.
pub async fn most_followed(
    reader: &GremlinTransport,
    schema: &FollowsSchema,
    among: Option<&[String]>,
    limit: i64,
) -> Result<Vec<Degree>, GremlinError> {
    top_degrees(reader, "inE", schema, among, limit).await
}

/// Q2 "people who follow the most people": the `limit` vertices with most outgoing edges, over
/// the whole graph or among the given vertex ids.
pub async fn most_following(
    reader: &GremlinTransport,
    schema: &FollowsSchema,
    among: Option<&[String]>,
    limit: i64,
) -> Result<Vec<Degree>, GremlinError> {
    top_degrees(reader, "outE", schema, among, limit).await
}

/// `choose(<count>.is(lt(small)), out(l), choose(select(<count>).is(lt(large)),
/// out(l).coin(0.5), out(l).coin(0.1)))` as in the notebook.
fn sampled_out(count_of: Bytecode, count_label: &str, small: i64, large: i64, l: &str) -> Bytecode {
    let condition = count_of
        .step("as", [count_label])
        .step("is", [GValue::p("lt", small)]);
    let sampled = Bytecode::new().step(
        "choose",
        [
            GValue::from(anon("select", [count_label]).step("is", [GValue::p("lt", large)])),
            GValue::from(anon("out", [l]).step("coin", [0.5])),
            GValue::from(anon("out", [l]).step("coin", [0.1])),
        ],
    );
    Bytecode::new().step(
        "choose",
        [
            GValue::from(condition),
            GValue::from(anon("out", [l])),
            GValue::from(sampled),
        ],
    )
}

/// Q3 "recommend new people to follow" for `person`: friends-of-friends not yet followed,
/// ranked by the number of paths reaching them, with the notebook's sampling (all edges below
/// 100 / 1000 out-edges, half below 1000 / 10000, a tenth above), the notebook's exact shape.
pub async fn recommendations(
    reader: &GremlinTransport,
    schema: &FollowsSchema,
    person: &str,
    limit: i64,
) -> Result<Vec<Recommendation>, GremlinError> {
    let l = schema.edge_label.as_str();
    let first = sampled_out(
        anon("select", ["user"]).step("outE", [l]).then("count"),
        "user-count",
        100,
        1000,
        l,
    );
    let second = sampled_out(
        anon("select", ["f"]).step("outE", [l]).then("count"),
        "f-count",
        1000,
        10000,
        l,
    );
    let mut t = Bytecode::new().step("V", [person]).step("as", ["user"]);
    for s in first.steps() {
        t.push(&s.operator, s.arguments.clone());
    }
    t = t.step("as", ["f"]).step("aggregate", ["following"]);
    for s in second.steps() {
        t.push(&s.operator, s.arguments.clone());
    }
    let t = t
        .step("where", [GValue::p("neq", "user")])
        .step("where", [GValue::p("without", vec!["following"])])
        .then("group")
        .then("by")
        .step("by", [anon("count", [] as [GValue; 0])])
        .then("unfold")
        .step("project", ["v", "count"])
        .step("by", [Column::Keys])
        .step("by", [Column::Values])
        .then("order")
        .step(
            "by",
            [GValue::from(anon("select", ["count"])), Order::Desc.into()],
        )
        .step("limit", [limit])
        .step("project", ["firstName", "lastName", "id", "count"])
        .step("by", [anon("select", ["v"]).step("by", ["firstName"])])
        .step("by", [anon("select", ["v"]).step("by", ["lastName"])])
        .step("by", [anon("select", ["v"]).step("by", ["id"])])
        .step("by", [anon("select", ["count"])]);
    let rows = reader.submit(&t).await?;
    rows.iter()
        .map(|r| {
            Some(Recommendation {
                first_name: r.get("firstName").cloned(),
                last_name: r.get("lastName").cloned(),
                id: r.get("id").cloned(),
                count: r.get("count")?.as_i64()?,
            })
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| GremlinError::Protocol("a recommendation without count".into()))
}
