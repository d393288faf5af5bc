//! [`DashboardConfig`]: a CloudWatch dashboard for the pipeline's metrics, like the
//! original's.

use crate::datum::{check_name, check_namespace};
use crate::names;
use crate::ConfigError;
use serde_json::{json, Value};

/// What the dashboard shows. Made by [`DashboardConfig::builder`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DashboardConfig {
    /// The value of the `clusterId` dimension.
    pub cluster_id: String,
    /// The AWS region the widgets read from.
    pub region: String,
    /// The namespace the metrics are in: default the original's.
    pub namespace: String,
    /// Period of every series in seconds: default 1, as the original (high resolution); else
    /// 5, 10, 30 or a multiple of 60, the periods CloudWatch graphs.
    pub period_seconds: u32,
    /// The consumer's lag metric in `namespace` (right axis): default `MillisBehindLatest`.
    pub lag_metric: String,
    /// If the consumer runs as a Lambda function, its name: its `AWS/Lambda` `IteratorAge`
    /// is plotted on the right axis as in the original. Default `None`.
    pub lambda_function: Option<String>,
}

impl DashboardConfig {
    /// A builder holding the original's dashboard settings for `cluster_id` in `region`.
    ///
    /// ```
    /// use metrics_sink::dashboard::DashboardConfig;
    ///
    /// let dashboard = DashboardConfig::builder("my-cluster", "us-east-1")
    ///     .lambda_function("graph-writer".to_owned())
    ///     .build()?;
    /// assert_eq!(dashboard.dashboard_name(), "stream-2-neptune-my-cluster");
    /// assert!(dashboard.body_json().contains("IteratorAge"));
    /// # Ok::<(), metrics_sink::ConfigError>(())
    /// ```
    pub fn builder(
        cluster_id: impl Into<String>,
        region: impl Into<String>,
    ) -> DashboardConfigBuilder {
        DashboardConfigBuilder {
            config: Self {
                cluster_id: cluster_id.into(),
                region: region.into(),
                namespace: names::NAMESPACE.into(),
                period_seconds: 1,
                lag_metric: names::MILLIS_BEHIND_LATEST.into(),
                lambda_function: None,
            },
        }
    }

    /// Checks the names against CloudWatch's rules and the period against the ones it graphs.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_name("cluster_id", &self.cluster_id, 1024)
            .map_err(|e| ConfigError::new("cluster_id", e.reason))?;
        if self.region.is_empty() {
            return Err(ConfigError::new("region", "must not be empty"));
        }
        check_namespace(&self.namespace).map_err(|r| ConfigError::new("namespace", r))?;
        let p = self.period_seconds;
        if !(matches!(p, 1 | 5 | 10 | 30) || (p > 0 && p.is_multiple_of(60))) {
            return Err(ConfigError::new(
                "period_seconds",
                format!("{p} is not 1, 5, 10, 30 or a multiple of 60"),
            ));
        }
        check_name("lag_metric", &self.lag_metric, 255)
            .map_err(|e| ConfigError::new("lag_metric", e.reason))?;
        if self.lambda_function.as_deref() == Some("") {
            return Err(ConfigError::new("lambda_function", "must not be empty"));
        }
        Ok(())
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

/// Builds a [`DashboardConfig`]: each setter replaces one default (see the field of the same
/// name), and [`build`](Self::build) checks the result.
#[derive(Debug, Clone)]
#[must_use]
pub struct DashboardConfigBuilder {
    config: DashboardConfig,
}

impl DashboardConfigBuilder {
    /// Sets [`DashboardConfig::namespace`].
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.config.namespace = namespace.into();
        self
    }

    /// Sets [`DashboardConfig::period_seconds`].
    pub fn period_seconds(mut self, seconds: u32) -> Self {
        self.config.period_seconds = seconds;
        self
    }

    /// Sets [`DashboardConfig::lag_metric`].
    pub fn lag_metric(mut self, metric: impl Into<String>) -> Self {
        self.config.lag_metric = metric.into();
        self
    }

    /// Sets [`DashboardConfig::lambda_function`].
    pub fn lambda_function(mut self, function: impl Into<Option<String>>) -> Self {
        self.config.lambda_function = function.into();
        self
    }

    /// The configuration, if its names and period are ones CloudWatch takes.
    pub fn build(self) -> Result<DashboardConfig, ConfigError> {
        self.config.validate()?;
        Ok(self.config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_json_with_the_originals_series_for_the_cluster() {
        let config = DashboardConfig::builder("my-cluster", "eu-west-1")
            .lambda_function("writer".to_owned())
            .build()
            .unwrap();
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

    #[test]
    fn names_and_periods_cloudwatch_refuses_are_refused() {
        let field = |b: DashboardConfigBuilder| b.build().unwrap_err().field;
        assert_eq!(field(DashboardConfig::builder("", "r")), "cluster_id");
        assert_eq!(
            field(DashboardConfig::builder("c", "r").period_seconds(7)),
            "period_seconds"
        );
        assert_eq!(
            field(DashboardConfig::builder("c", "r").namespace("AWS/Lambda")),
            "namespace"
        );
        DashboardConfig::builder("c", "r")
            .period_seconds(300)
            .build()
            .unwrap();
    }
}
