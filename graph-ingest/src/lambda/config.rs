//! The function's settings, read from its environment variables with the original's names and
//! defaults (but for the write mode, `merge` by default), plus the connection settings the original hard-coded (TLS) or lacked (IAM, the
//! name to verify and the host to sign for behind a tunnel or a load balancer, a private CA).

use crate::{ChangeJson, ConfigError};
use neptune_batch::{FollowsSchema, GremlinSinkConfig, GremlinSinkConfigBuilder, WriteMode};
use std::path::PathBuf;
use std::time::Duration;

/// The message the original threw while `wait` was `true`.
pub const WAIT_MESSAGE: &str =
    "Waiting... [Set 'wait' Lambda environment variable to 'false' to continue processing]";

/// What the handler does with a record that can never be written (an undecodable payload, an
/// invalid item, a constraint violation, a request the server rejects).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PoisonPolicy {
    /// Name it in the partial batch response like any other failure: the event source mapping
    /// retries from it, bisects the batch down to it, and when its retries
    /// (`MaximumRetryAttempts`) or its age (`MaximumRecordAgeInSeconds`) run out sends its
    /// shard and sequence number to the on-failure destination and moves on. Nothing is skipped
    /// without the mapping's own bookkeeping.
    #[default]
    Report,
    /// Log it as a dead letter and carry on at once: the shard never waits for it. Failures
    /// that may clear up (a missing vertex, a transient error) are still reported.
    DeadLetter,
}

impl PoisonPolicy {
    /// The environment value: `report` or `dead_letter`.
    pub fn as_str(self) -> &'static str {
        match self {
            PoisonPolicy::Report => "report",
            PoisonPolicy::DeadLetter => "dead_letter",
        }
    }
}

/// How the function reads its records: `record_format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecordFormat {
    /// `follows-csv`: one `follows` edge per record, the original's `from,to,creationDate` line
    /// (or the driver's JSON object), mapped by [`FollowsCsv`](crate::FollowsCsv).
    #[default]
    FollowsCsv,
    /// `changes`: one JSON change per record (an upsert or a delete of a vertex or an edge,
    /// with a version), mapped by [`ChangeJson`].
    Changes,
}

impl RecordFormat {
    /// The environment value: `follows-csv` or `changes`.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordFormat::FollowsCsv => "follows-csv",
            RecordFormat::Changes => "changes",
        }
    }
}

impl std::str::FromStr for RecordFormat {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        match value {
            "follows-csv" => Ok(RecordFormat::FollowsCsv),
            "changes" => Ok(RecordFormat::Changes),
            other => Err(format!(
                "{other:?} is not a record format: use follows-csv or changes"
            )),
        }
    }
}

/// The function's settings. [`Default`] holds the original's defaults but for the write mode
/// (`merge`, not the original's conditional create: see [`LambdaConfig::write_mode`]);
/// `neptune_endpoint` and
/// `cluster_id` have none (the original required them) and must be set.
#[derive(Debug, Clone, PartialEq)]
pub struct LambdaConfig {
    /// `neptune_endpoint`: the cluster (writer) endpoint's host name, or a full
    /// `ws://`/`wss://` URL (then `neptune_port` and `neptune_tls` are not used).
    pub neptune_endpoint: String,
    /// `neptune_port`, default 8182.
    pub neptune_port: u16,
    /// `batch_write_size`: edges per write request, default 100 (1..=10000).
    pub batch_write_size: usize,
    /// `write_mode`: `merge` (the default), `conditional` or `plain`. The original's
    /// `conditional_create` is read too (`true`: `conditional`, `false`: `plain`), and
    /// `write_mode` overrides it.
    ///
    /// `merge` is the default because it is the fast path: on the `lambda_fleet` bench (20 000
    /// power-law follows, `batch_write_size` 100, one request at a time) one function wrote
    /// 8 293 edges/s with it against 1 398 with conditional creates, and two functions 9 881
    /// against 1 425, invocation p99 377 ms against 2 980 ms. **`write_mode=conditional` is
    /// the original-compatible setting**: the original's `fold().coalesce(unfold(), addE…)`,
    /// with `batch_write_size` 100 (the default) and one request at a time (always), as the
    /// original ran.
    pub write_mode: WriteMode,
    /// `percent_error`: percentage of write requests failed on purpose (0..=99, default 0), to
    /// watch a failed batch being retried by the event source mapping.
    pub percent_error: u8,
    /// `cluster_id`: the `clusterId` dimension of the metrics.
    pub cluster_id: String,
    /// `wait`, default `true` as in the original: while `true` every invocation fails, so the
    /// mapping holds every shard where it is and nothing is lost.
    pub wait: bool,
    /// `neptune_tls`, default `true` (the original enabled TLS): `wss://` instead of `ws://`.
    pub tls: bool,
    /// `neptune_iam_auth`, default `false`: sign the WebSocket upgrade with SigV4 using the
    /// function's role (Neptune IAM database authentication).
    pub iam_auth: bool,
    /// `AWS_REGION` (set by Lambda): the signing region for IAM authentication.
    pub region: Option<String>,
    /// `neptune_tls_server_name`: the name the server's certificate must be issued for, when
    /// `neptune_endpoint` is not on it (a load balancer passing TLS through to the cluster, a
    /// tunnel). Default: the endpoint's host.
    pub tls_server_name: Option<String>,
    /// `neptune_signing_host`: the host (`HOST` or `HOST:PORT`) sent as the upgrade's `Host`
    /// header and, with IAM authentication, signed for: the cluster's endpoint behind a load
    /// balancer or a tunnel. Without a port, the endpoint's. Default: the endpoint's host and
    /// port.
    pub signing_host: Option<String>,
    /// `neptune_ca_file`: a PEM file of CA certificates trusted besides the platform's roots,
    /// shipped in the deployment package or a layer (e.g. `/opt/ca.pem`), for a balancer whose
    /// certificate a private CA issued. Default: the platform's roots only.
    pub ca_file: Option<PathBuf>,
    /// `poison_records`: `report` (default) or `dead_letter`.
    pub poison: PoisonPolicy,
    /// `neptune_request_timeout_ms`, default 30000: time allowed for one write request.
    pub request_timeout: Duration,
    /// `neptune_connect_timeout_ms`, default 10000: time allowed to open the connection.
    pub connect_timeout: Duration,
    /// `record_format`: `follows-csv` (default) or `changes`.
    pub record_format: RecordFormat,
    /// `placeholder_label`, default `vertex`: with `record_format=changes`, the label of the
    /// placeholder made for an edge's endpoint that does not exist yet and whose label the
    /// record does not name (see [`ChangeJson::placeholder_label`]).
    pub placeholder_label: String,
    /// Edge label and property names (the original's).
    pub schema: FollowsSchema,
}

impl Default for LambdaConfig {
    fn default() -> Self {
        Self {
            neptune_endpoint: String::new(),
            neptune_port: 8182,
            batch_write_size: 100,
            write_mode: WriteMode::Merge,
            percent_error: 0,
            cluster_id: String::new(),
            wait: true,
            tls: true,
            iam_auth: false,
            region: None,
            tls_server_name: None,
            signing_host: None,
            ca_file: None,
            poison: PoisonPolicy::Report,
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            record_format: RecordFormat::FollowsCsv,
            placeholder_label: "vertex".into(),
            schema: FollowsSchema::default(),
        }
    }
}

/// How one environment variable sets its part of the configuration; the error says why its
/// value is unusable.
type Setter = fn(&mut LambdaConfig, &str) -> Result<(), String>;

/// Every variable the function reads, in the order they are applied (`write_mode` after
/// `conditional_create`, which it overrides). `AWS_REGION` is read apart, with its fallback.
const VARIABLES: &[(&str, Setter)] = &[
    ("neptune_endpoint", |c, v| {
        c.neptune_endpoint = v.to_owned();
        Ok(())
    }),
    ("neptune_port", |c, v| number(v).map(|n| c.neptune_port = n)),
    ("batch_write_size", |c, v| {
        number(v).map(|n| c.batch_write_size = n)
    }),
    ("conditional_create", |c, v| {
        boolean(v).map(|conditional| {
            c.write_mode = if conditional {
                WriteMode::Conditional
            } else {
                WriteMode::Plain
            }
        })
    }),
    ("write_mode", |c, v| v.parse().map(|m| c.write_mode = m)),
    ("percent_error", |c, v| {
        number(v).map(|n| c.percent_error = n)
    }),
    ("cluster_id", |c, v| {
        c.cluster_id = v.to_owned();
        Ok(())
    }),
    ("wait", |c, v| boolean(v).map(|b| c.wait = b)),
    ("neptune_tls", |c, v| boolean(v).map(|b| c.tls = b)),
    ("neptune_iam_auth", |c, v| {
        boolean(v).map(|b| c.iam_auth = b)
    }),
    ("neptune_tls_server_name", |c, v| {
        c.tls_server_name = Some(v.to_owned());
        Ok(())
    }),
    ("neptune_signing_host", |c, v| {
        c.signing_host = Some(v.to_owned());
        Ok(())
    }),
    ("neptune_ca_file", |c, v| {
        c.ca_file = Some(PathBuf::from(v));
        Ok(())
    }),
    ("poison_records", |c, v| {
        c.poison = match v {
            "report" => PoisonPolicy::Report,
            "dead_letter" => PoisonPolicy::DeadLetter,
            other => {
                return Err(format!(
                    "{other:?} is not a policy: use report or dead_letter"
                ))
            }
        };
        Ok(())
    }),
    ("neptune_request_timeout_ms", |c, v| {
        number(v).map(|ms| c.request_timeout = Duration::from_millis(ms))
    }),
    ("neptune_connect_timeout_ms", |c, v| {
        number(v).map(|ms| c.connect_timeout = Duration::from_millis(ms))
    }),
    ("record_format", |c, v| {
        v.parse().map(|f| c.record_format = f)
    }),
    ("placeholder_label", |c, v| {
        c.placeholder_label = v.to_owned();
        Ok(())
    }),
];

fn boolean(value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(format!("{other:?} is not a boolean: use true or false")),
    }
}

fn number<T: std::str::FromStr>(value: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    value
        .parse::<T>()
        .map_err(|e| format!("{value:?} is not a valid number: {e}"))
}

impl LambdaConfig {
    /// Reads the settings from the process environment and validates them.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// The name of every environment variable the function reads as a setting (besides
    /// `AWS_REGION`), for checking a deployment's environment against them.
    pub fn setting_names() -> impl Iterator<Item = &'static str> {
        VARIABLES.iter().map(|(name, _)| *name)
    }

    /// Reads the settings from `lookup` (a variable's value by name, `None` when unset) and
    /// validates them. Values are trimmed; empty ones count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let mut c = Self::default();
        for &(name, set) in VARIABLES {
            if let Some(value) = get(name) {
                set(&mut c, &value).map_err(|reason| ConfigError::new(name, reason))?;
            }
        }
        c.region = get("AWS_REGION").or_else(|| get("AWS_DEFAULT_REGION"));
        c.validate()?;
        Ok(c)
    }

    /// Checks every setting; the error names the environment variable.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.neptune_endpoint.is_empty() {
            return Err(ConfigError::new(
                "neptune_endpoint",
                "is required: the Neptune cluster endpoint's host name",
            ));
        }
        if self.neptune_endpoint.contains("://")
            && !(self.neptune_endpoint.starts_with("ws://")
                || self.neptune_endpoint.starts_with("wss://"))
        {
            return Err(ConfigError::new(
                "neptune_endpoint",
                format!(
                    "{:?} must be a host name or a ws:// or wss:// URL",
                    self.neptune_endpoint
                ),
            ));
        }
        if self.neptune_port == 0 {
            return Err(ConfigError::new(
                "neptune_port",
                "must be between 1 and 65535",
            ));
        }
        if !(1..=GremlinSinkConfig::MAX_BATCH_SIZE).contains(&self.batch_write_size) {
            return Err(ConfigError::new(
                "batch_write_size",
                format!(
                    "{} is outside 1..={}",
                    self.batch_write_size,
                    GremlinSinkConfig::MAX_BATCH_SIZE
                ),
            ));
        }
        if self.percent_error > 99 {
            return Err(ConfigError::new(
                "percent_error",
                format!("{} is outside 0..=99", self.percent_error),
            ));
        }
        if self.cluster_id.is_empty() {
            return Err(ConfigError::new(
                "cluster_id",
                "is required: the Neptune DB cluster id, the metrics' clusterId dimension",
            ));
        }
        if self.cluster_id.len() > 1024 {
            return Err(ConfigError::new(
                "cluster_id",
                "is longer than CloudWatch's 1024-character dimension value limit",
            ));
        }
        if self.iam_auth && !self.writer_url().starts_with("wss://") {
            return Err(ConfigError::new(
                "neptune_iam_auth",
                "IAM authentication needs TLS: set neptune_tls=true (or a wss:// endpoint)",
            ));
        }
        if self.iam_auth && self.region.is_none() {
            return Err(ConfigError::new(
                "AWS_REGION",
                "is required for IAM authentication (Lambda sets it)",
            ));
        }
        for (name, value) in [
            ("neptune_request_timeout_ms", self.request_timeout),
            ("neptune_connect_timeout_ms", self.connect_timeout),
        ] {
            if value.is_zero() || value > Duration::from_secs(900) {
                return Err(ConfigError::new(
                    name,
                    "must be between 1 ms and 900000 ms (Lambda's longest run)",
                ));
            }
        }
        if self.placeholder_label.is_empty()
            || self.placeholder_label.len() > ChangeJson::MAX_FIELD_BYTES
        {
            return Err(ConfigError::new(
                "placeholder_label",
                format!("must be 1 to {} bytes long", ChangeJson::MAX_FIELD_BYTES),
            ));
        }
        self.validate_connection()?;
        Ok(())
    }

    /// Checks the connection settings: the server name and the CA file apply to TLS only;
    /// the transport checks the rest (a server name's syntax, a signing host, a CA file that is
    /// missing or holds no certificate), named after the variable that set it.
    fn validate_connection(&self) -> Result<(), ConfigError> {
        if !self.writer_url().starts_with("wss://") {
            for (name, set) in [
                ("neptune_tls_server_name", self.tls_server_name.is_some()),
                ("neptune_ca_file", self.ca_file.is_some()),
            ] {
                if set {
                    return Err(ConfigError::new(
                        name,
                        "applies to TLS only: set neptune_tls=true (or a wss:// endpoint)",
                    ));
                }
            }
        }
        self.sink_config()
            .build()
            .map_err(|e| self.named_by_variable(e))?;
        Ok(())
    }

    /// An error of the sink's configuration, named after the environment variable that set
    /// the field (`writer.ca_file` is `neptune_ca_file`), with the value given; any other
    /// field comes from `neptune_endpoint`.
    fn named_by_variable(&self, e: ConfigError) -> ConfigError {
        let quoted = |value: &Option<String>| match value {
            Some(v) => format!("{v:?} {}", e.reason()),
            None => e.reason().to_owned(),
        };
        match e.field() {
            "writer.tls_server_name" => {
                ConfigError::new("neptune_tls_server_name", quoted(&self.tls_server_name))
            }
            "writer.signing_host" => {
                ConfigError::new("neptune_signing_host", quoted(&self.signing_host))
            }
            // The reason names the file.
            "writer.ca_file" => ConfigError::new("neptune_ca_file", e.reason()),
            _ => ConfigError::new("neptune_endpoint", e.to_string()),
        }
    }

    /// The writer's WebSocket URL: `wss://<endpoint>:<port>/gremlin` (or `ws://` without TLS),
    /// or `neptune_endpoint` itself when it is a URL.
    pub fn writer_url(&self) -> String {
        if self.neptune_endpoint.starts_with("ws://") || self.neptune_endpoint.starts_with("wss://")
        {
            return self.neptune_endpoint.clone();
        }
        let scheme = if self.tls { "wss" } else { "ws" };
        format!(
            "{scheme}://{}:{}/gremlin",
            self.neptune_endpoint, self.neptune_port
        )
    }

    /// The builder of the sink's settings: one connection (the original's pool of one), sub-batches of
    /// `batch_write_size` written one after another in shard order, reached with the configured
    /// server name, signing host and CA file. IAM signing is added by
    /// [`crate::lambda::connect_sink`], which needs the credential chain.
    pub fn sink_config(&self) -> GremlinSinkConfigBuilder {
        GremlinSinkConfig::builder(self.writer_url())
            .writer(|w| {
                w.pool_size(1)
                    .connect_timeout(self.connect_timeout)
                    .request_timeout(self.request_timeout)
                    .tls_server_name(self.tls_server_name.clone())
                    .signing_host(self.signing_host.clone())
                    .ca_file(self.ca_file.clone())
            })
            .batch_size(self.batch_write_size)
            .in_flight(1)
            .mode(self.write_mode)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use stream2neptune_common::Classify;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn the_defaults_are_the_originals_but_the_write_mode() {
        let c = LambdaConfig::from_lookup(vars(&[
            (
                "neptune_endpoint",
                "db.cluster-x.eu-west-1.neptune.amazonaws.com",
            ),
            ("cluster_id", "db"),
        ]))
        .unwrap();
        assert_eq!(c.neptune_port, 8182);
        assert_eq!(c.batch_write_size, 100);
        assert_eq!(
            c.write_mode,
            WriteMode::Merge,
            "the fast path, not the original's conditional create"
        );
        assert_eq!(c.percent_error, 0);
        assert!(c.wait, "the original waited until told otherwise");
        assert!(c.tls);
        assert!(!c.iam_auth);
        assert_eq!(c.record_format, RecordFormat::FollowsCsv);
        assert_eq!(c.placeholder_label, "vertex");
        assert_eq!(
            c.writer_url(),
            "wss://db.cluster-x.eu-west-1.neptune.amazonaws.com:8182/gremlin"
        );
        // The endpoint's own name and host, the platform's roots.
        let writer = c.sink_config().build().unwrap().writer;
        assert_eq!(writer.tls_server_name, None);
        assert_eq!(writer.signing_host, None);
        assert_eq!(writer.ca_file, None);
    }

    /// A self-signed CA certificate, valid until 2126, whose key was thrown away: a file
    /// `neptune_ca_file` accepts, which verifies nothing.
    const SOME_CA_PEM: &str = "\
-----BEGIN CERTIFICATE-----
MIIBuDCCAV2gAwIBAgIUEKiUv+MhwOkIycQwPf73n7gohh4wCgYIKoZIzj0EAwIw
KDEmMCQGA1UEAwwdc3RyZWFtLTItbmVwdHVuZSB1bml0IHRlc3QgQ0EwIBcNMjYx
MjA3MTExODEyWhgPMjEyNjExMTMxMTE4MTJaMCgxJjAkBgNVBAMMHXN0cmVhbS0y
LW5lcHR1bmUgdW5pdCB0ZXN0IENBMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE
xABhzMBOuiZpDnRNMNmrpblmXoExionstEmTUPOSZwOr48aCackqKJ3RosFSLzsD
hb1q3HAhYN4SATtoLHFYiaNjMGEwHQYDVR0OBBYEFEJkj7eJsK9DV/wbxMinb9Be
Lp7pMB8GA1UdIwQYMBaAFEJkj7eJsK9DV/wbxMinb9BeLp7pMA8GA1UdEwEB/wQF
MAMBAf8wDgYDVR0PAQH/BAQDAgEGMAoGCCqGSM49BAMCA0kAMEYCIQDGonifzk9v
lJJ2QUgw73M/HXl1o7/gpVhXsA/8enyeYgIhAOJt8diSzVmLWJvYzn4YPCiXtlUr
O1bn8MLP08lM6DNN
-----END CERTIFICATE-----
";

    #[test]
    fn behind_a_balancer_the_name_the_signing_host_and_the_ca_file_reach_the_sink() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, SOME_CA_PEM).unwrap();
        let c = LambdaConfig::from_lookup(vars(&[
            (
                "neptune_endpoint",
                "neptune-lb-123.elb.eu-west-1.amazonaws.com",
            ),
            ("neptune_port", "443"),
            ("cluster_id", "db"),
            (
                "neptune_tls_server_name",
                " db.cluster-x.eu-west-1.neptune.amazonaws.com ",
            ),
            (
                "neptune_signing_host",
                "db.cluster-x.eu-west-1.neptune.amazonaws.com:8182",
            ),
            ("neptune_ca_file", ca.to_str().unwrap()),
        ]))
        .unwrap();
        assert_eq!(
            c.tls_server_name.as_deref(),
            Some("db.cluster-x.eu-west-1.neptune.amazonaws.com")
        );
        assert_eq!(c.ca_file.as_deref(), Some(ca.as_path()));
        let writer = c.sink_config().build().unwrap().writer;
        assert_eq!(
            writer.url,
            "wss://neptune-lb-123.elb.eu-west-1.amazonaws.com:443/gremlin"
        );
        assert_eq!(
            writer.tls_server_name.as_deref(),
            Some("db.cluster-x.eu-west-1.neptune.amazonaws.com")
        );
        assert_eq!(
            writer.signing_host.as_deref(),
            Some("db.cluster-x.eu-west-1.neptune.amazonaws.com:8182")
        );
        assert_eq!(writer.ca_file.as_deref(), Some(ca.as_path()));
    }

    #[test]
    fn empty_connection_settings_are_the_defaults() {
        // What the template passes when its parameters are left empty.
        let c = LambdaConfig::from_lookup(vars(&[
            ("neptune_endpoint", "h"),
            ("cluster_id", "c"),
            ("neptune_tls_server_name", ""),
            ("neptune_signing_host", "  "),
            ("neptune_ca_file", ""),
        ]))
        .unwrap();
        assert_eq!(
            (c.tls_server_name, c.signing_host, c.ca_file),
            (None, None, None)
        );
    }

    #[test]
    fn bad_connection_settings_are_refused_on_one_line_naming_the_variable() {
        let dir = tempfile::tempdir().unwrap();
        let not_pem = dir.path().join("not-a-ca.pem");
        std::fs::write(&not_pem, "no certificate here\n").unwrap();
        let missing = dir.path().join("missing.pem");
        let (not_pem, missing) = (not_pem.to_str().unwrap(), missing.to_str().unwrap());
        // Settings besides the required ones, the variable refused, the reason's words.
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
        let cases: &[Case] = &[
            (
                &[("neptune_tls_server_name", "not a name!")],
                "neptune_tls_server_name",
                r#""not a name!" is not a DNS name or an IP address"#,
            ),
            (
                &[("neptune_signing_host", "neptune.cluster.example/gremlin")],
                "neptune_signing_host",
                r#""neptune.cluster.example/gremlin" must be HOST or HOST:PORT"#,
            ),
            (
                &[("neptune_ca_file", missing)],
                "neptune_ca_file",
                "is not a readable file",
            ),
            (
                &[("neptune_ca_file", not_pem)],
                "neptune_ca_file",
                "holds no PEM certificate",
            ),
            (
                &[
                    ("neptune_tls", "false"),
                    ("neptune_tls_server_name", "neptune.cluster.example"),
                ],
                "neptune_tls_server_name",
                "applies to TLS only",
            ),
            (
                &[("neptune_tls", "false"), ("neptune_ca_file", not_pem)],
                "neptune_ca_file",
                "applies to TLS only",
            ),
        ];
        for (pairs, field, reason) in cases {
            let base = [("neptune_endpoint", "h"), ("cluster_id", "c")];
            let e = LambdaConfig::from_lookup(vars(&[&base[..], pairs].concat())).unwrap_err();
            let line = e.to_string();
            assert_eq!(e.field, *field, "{line}");
            assert!(line.contains(field) && line.contains(reason), "{line}");
            assert_eq!(line.lines().count(), 1, "one line: {line}");
            assert_eq!(e.kind(), stream2neptune_common::ErrorKind::Usage);
        }
        // The file is named, so that a wrong path in the package shows.
        let e = LambdaConfig::from_lookup(vars(&[
            ("neptune_endpoint", "h"),
            ("cluster_id", "c"),
            ("neptune_ca_file", missing),
        ]))
        .unwrap_err();
        assert!(e.to_string().contains(missing), "{e}");
    }

    #[test]
    fn write_mode_conditional_is_the_originals_behaviour() {
        let base = [("neptune_endpoint", "db.example"), ("cluster_id", "db")];
        for setting in [
            ("write_mode", "conditional"),
            ("conditional_create", "true"),
        ] {
            let c = LambdaConfig::from_lookup(vars(&[&base[..], &[setting]].concat())).unwrap();
            let sink = c.sink_config().build().unwrap();
            assert_eq!(sink.mode, WriteMode::Conditional, "{setting:?}");
            assert_eq!(
                (sink.batch_size, sink.in_flight, sink.writer.pool_size),
                (Some(100), Some(1), 1),
                "the original's 100 edges per request, one request at a time, one connection"
            );
        }
    }

    #[test]
    fn conditional_create_false_is_the_plain_mode_and_write_mode_overrides_it() {
        let base = [("neptune_endpoint", "h"), ("cluster_id", "c")];
        let plain = LambdaConfig::from_lookup(vars(
            &[&base[..], &[("conditional_create", "FALSE")]].concat(),
        ))
        .unwrap();
        assert_eq!(plain.write_mode, WriteMode::Plain);
        let merge = LambdaConfig::from_lookup(vars(
            &[
                &base[..],
                &[("conditional_create", "false"), ("write_mode", "merge")],
            ]
            .concat(),
        ))
        .unwrap();
        assert_eq!(merge.write_mode, WriteMode::Merge);
    }

    #[test]
    fn bad_values_are_refused_naming_the_variable() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("cluster_id", "c")], "neptune_endpoint"),
            (&[("neptune_endpoint", "h")], "cluster_id"),
            (
                &[
                    ("neptune_endpoint", "h"),
                    ("cluster_id", "c"),
                    ("neptune_port", "x"),
                ],
                "neptune_port",
            ),
            (
                &[
                    ("neptune_endpoint", "h"),
                    ("cluster_id", "c"),
                    ("batch_write_size", "20000"),
                ],
                "batch_write_size",
            ),
            (
                &[
                    ("neptune_endpoint", "h"),
                    ("cluster_id", "c"),
                    ("percent_error", "100"),
                ],
                "percent_error",
            ),
            (
                &[
                    ("neptune_endpoint", "h"),
                    ("cluster_id", "c"),
                    ("wait", "yes"),
                ],
                "wait",
            ),
            (
                &[
                    ("neptune_endpoint", "h"),
                    ("cluster_id", "c"),
                    ("neptune_iam_auth", "true"),
                    ("neptune_tls", "false"),
                    ("AWS_REGION", "eu-west-1"),
                ],
                "neptune_iam_auth",
            ),
            (
                &[
                    ("neptune_endpoint", "h"),
                    ("cluster_id", "c"),
                    ("neptune_iam_auth", "true"),
                ],
                "AWS_REGION",
            ),
            (
                &[("neptune_endpoint", "http://h"), ("cluster_id", "c")],
                "neptune_endpoint",
            ),
            (
                &[
                    ("neptune_endpoint", "h"),
                    ("cluster_id", "c"),
                    ("poison_records", "drop"),
                ],
                "poison_records",
            ),
            (
                &[
                    ("neptune_endpoint", "h"),
                    ("cluster_id", "c"),
                    ("record_format", "follows_csv"),
                ],
                "record_format",
            ),
            (
                &[
                    ("neptune_endpoint", "h"),
                    ("cluster_id", "c"),
                    ("record_format", "changes"),
                    ("placeholder_label", &"x".repeat(513)),
                ],
                "placeholder_label",
            ),
        ];
        for (pairs, field) in cases {
            let e = LambdaConfig::from_lookup(vars(pairs)).unwrap_err();
            assert_eq!(e.field, *field, "{e}");
            assert!(e.to_string().contains(field), "{e}");
            assert_eq!(e.kind(), stream2neptune_common::ErrorKind::Usage);
        }
    }

    #[test]
    fn the_change_format_is_chosen_by_name_with_its_placeholder_label() {
        let c = LambdaConfig::from_lookup(vars(&[
            ("neptune_endpoint", "h"),
            ("cluster_id", "c"),
            ("record_format", " changes "),
            ("placeholder_label", "person"),
        ]))
        .unwrap();
        assert_eq!(c.record_format, RecordFormat::Changes);
        assert_eq!(c.placeholder_label, "person");
        for format in [RecordFormat::FollowsCsv, RecordFormat::Changes] {
            assert_eq!(format.as_str().parse::<RecordFormat>(), Ok(format));
        }
        let e = LambdaConfig::from_lookup(vars(&[
            ("neptune_endpoint", "h"),
            ("cluster_id", "c"),
            ("record_format", "csv"),
        ]))
        .unwrap_err();
        assert_eq!(e.to_string().lines().count(), 1, "one line: {e}");
        assert!(e.to_string().contains("use follows-csv or changes"), "{e}");
    }

    #[test]
    fn a_url_endpoint_is_used_as_it_is() {
        let c = LambdaConfig::from_lookup(vars(&[
            ("neptune_endpoint", "ws://127.0.0.1:8182/gremlin"),
            ("cluster_id", "local"),
            ("wait", "false"),
        ]))
        .unwrap();
        assert_eq!(c.writer_url(), "ws://127.0.0.1:8182/gremlin");
        assert!(!c.wait);
        let sink_config = c.sink_config().build().unwrap();
        assert_eq!(sink_config.writer.url, "ws://127.0.0.1:8182/gremlin");
        assert_eq!(sink_config.batch_size, Some(100));
    }
}
