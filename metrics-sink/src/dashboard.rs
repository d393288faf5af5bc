//! A CloudWatch dashboard for the pipeline's metrics, like the original's.

use crate::names;
use serde_json::{json, Value};

/// What the dashboard shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashboardConfig {
    /// The value of the `clusterId` dimension.
    pub cluster_id: String,
    /// The AWS region the widgets read from.
    pub region: String,
    /// The namespace the metrics are in.
    pub namespace: String,
    /// Period of every series in seconds (the original used 1, high resolution).
    pub period_seconds: u32,
    /// The consumer's lag metric in `namespace` (right axis).
    pub lag_metric: String,
    /// If the consumer runs as a Lambda function, its name: its `AWS/Lambda` `IteratorAge`
    /// is plotted on the right axis as in the original.
    pub lambda_function: Option<String>,
}

impl DashboardConfig {
    /// The original's dashboard settings for `cluster_id` in `region`.
    pub fn new(cluster_id: impl Into<String>, region: impl Into<String>) -> Self {
        Self {
            cluster_id: cluster_id.into(),
            region: region.into(),
            namespace: names::NAMESPACE.into(),
            period_seconds: 1,
            lag_metric: names::MILLIS_BEHIND_LATEST.into(),
            lambda_function: None,
        }
    }

    /// The dashboard's name, as the original named it: `stream-2-neptune-<clusterId>`.
    pub fn dashboard_name(&self) -> String {
        format!("stream-2-neptune-{}", self.cluster_id)
    }

    /// The dashboard body (`DashboardBody` of `PutDashboard`, or of an
    /// `AWS::CloudWatch::Dashboard`).
    ///
    /// The first widget is the original's: `EdgesSubmitted` as Sum, `WriteDuration`
    /// (Average) and the lag on the right axis. The second adds what the original did not
    /// show: `WriteDuration` p99 and `RetryCount` and `WriteErrors` as Sum.
    pub fn body(&self) -> Value {
        let (ns, c) = (self.namespace.as_str(), self.cluster_id.as_str());
        let mut throughput = vec![
            json!([ns, names::EDGES_SUBMITTED, names::CLUSTER_ID, c, {"stat": "Sum"}]),
            json!([".", names::WRITE_DURATION, ".", "."]),
            json!([ns, self.lag_metric, names::CLUSTER_ID, c, {"stat": "Maximum", "yAxis": "right"}]),
        ];
        if let Some(f) = &self.lambda_function {
            throughput.push(json!([
                "AWS/Lambda", "IteratorAge", "FunctionName", f, "Resource", f,
                {"stat": "Maximum", "yAxis": "right"}
            ]));
        }
        let widget = |x: u32, title: &str, metrics: Vec<Value>| {
            json!({
                "type": "metric",
                "x": x,
                "y": 0,
                "width": 12,
                "height": 6,
                "properties": {
                    "title": title,
                    "view": "timeSeries",
                    "stacked": false,
                    "region": self.region,
                    "stat": "Average",
                    "period": self.period_seconds,
                    "metrics": metrics,
                }
            })
        };
        json!({
            "widgets": [
                widget(0, "Edges submitted, write duration and lag", throughput),
                widget(12, "Write latency tail, retries and errors", vec![
                    json!([ns, names::WRITE_DURATION, names::CLUSTER_ID, c, {"stat": "p99"}]),
                    json!([ns, names::RETRY_COUNT, names::CLUSTER_ID, c, {"stat": "Sum", "yAxis": "right"}]),
                    json!([ns, names::WRITE_ERRORS, names::CLUSTER_ID, c, {"stat": "Sum", "yAxis": "right"}]),
                ]),
            ]
        })
    }

    /// [`DashboardConfig::body`] as a JSON string.
    pub fn body_json(&self) -> String {
        self.body().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_json_with_the_originals_series_for_the_cluster() {
        let mut config = DashboardConfig::new("my-cluster", "eu-west-1");
        config.lambda_function = Some("writer".into());
        let body: Value = serde_json::from_str(&config.body_json()).unwrap();
        assert_eq!(config.dashboard_name(), "stream-2-neptune-my-cluster");
        let widgets = body["widgets"].as_array().unwrap();
        assert_eq!(widgets.len(), 2);
        let first = &widgets[0]["properties"];
        assert_eq!(first["region"], "eu-west-1");
        assert_eq!(first["period"], 1);
        let series = first["metrics"].as_array().unwrap();
        assert_eq!(
            series[0],
            json!(["aws-samples/stream-2-neptune", "EdgesSubmitted", "clusterId", "my-cluster", {"stat": "Sum"}])
        );
        assert_eq!(series[1], json!([".", "WriteDuration", ".", "."]));
        assert_eq!(series[2][1], "MillisBehindLatest");
        assert_eq!(series[2][4]["yAxis"], "right");
        assert_eq!(series[3][0], "AWS/Lambda");
        assert_eq!(series[3][1], "IteratorAge");
        assert_eq!(series[3][6]["yAxis"], "right");
        let second = widgets[1]["properties"]["metrics"].as_array().unwrap();
        let names: Vec<_> = second.iter().map(|s| s[1].as_str().unwrap()).collect();
        assert_eq!(names, vec!["WriteDuration", "RetryCount", "WriteErrors"]);
        // Every full series names the cluster.
        for s in series
            .iter()
            .chain(second)
            .filter(|s| s[0] != "." && s[0] != "AWS/Lambda")
        {
            assert_eq!(s[3], "my-cluster");
        }
    }
}
