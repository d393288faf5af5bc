//! Settings of the Gremlin transport.

#[cfg(feature = "iam")]
use super::iam::IamAuth;
use crate::error::ConfigError;
use std::path::PathBuf;
use std::time::Duration;

/// Neptune closes WebSocket connections older than this (IAM-authenticated connections are
/// closed after 10 days); a connection is replaced well before.
pub const NEPTUNE_MAX_CONNECTION_AGE: Duration = Duration::from_secs(10 * 24 * 3600);

/// The serialization format of requests and answers (the WebSocket frame's MIME type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Serializer {
    /// GraphBinary 1.0 (`application/vnd.graphbinary-v1.0`), the default: it costs the server
    /// less CPU per request than GraphSON (see the crate's README for the figures), and it is
    /// what the original writer used. Gremlin Server 3.5+ and Amazon Neptune accept it.
    #[default]
    GraphBinaryV1,
    /// GraphSON 3.0 (`application/vnd.gremlin-v3.0+json`): typed JSON, readable on the wire.
    GraphSonV3,
}

impl Serializer {
    /// The MIME type that selects this format on the server.
    pub fn mime_type(self) -> &'static str {
        match self {
            Serializer::GraphBinaryV1 => "application/vnd.graphbinary-v1.0",
            Serializer::GraphSonV3 => "application/vnd.gremlin-v3.0+json",
        }
    }

    /// The format's short name: `graphbinary` or `graphson`.
    pub fn as_str(self) -> &'static str {
        match self {
            Serializer::GraphBinaryV1 => "graphbinary",
            Serializer::GraphSonV3 => "graphson",
        }
    }
}

impl std::str::FromStr for Serializer {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "graphbinary" | "graphbinary-v1" => Ok(Serializer::GraphBinaryV1),
            "graphson" | "graphson-v3" => Ok(Serializer::GraphSonV3),
            other => Err(format!(
                "unknown serializer {other:?}: expected graphbinary or graphson"
            )),
        }
    }
}

/// How to reach one Gremlin endpoint.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TransportConfig {
    /// `ws://host:port/gremlin` or `wss://host:port/gremlin`.
    pub url: String,
    /// Persistent connections kept open; requests are spread over them and many requests share
    /// one connection at once. Default 1, like the original's pool (`maxConnectionPoolSize(1)`).
    pub pool_size: usize,
    /// Time allowed to open a connection (TCP, TLS and the WebSocket upgrade).
    pub connect_timeout: Duration,
    /// Time allowed for a request's complete answer. Default 60 s.
    pub request_timeout: Duration,
    /// A connection older than this is replaced before its next request. Default 1 hour, far
    /// below Neptune's limit ([`NEPTUNE_MAX_CONNECTION_AGE`]).
    pub max_connection_lifetime: Duration,
    /// Amazon Neptune IAM authentication: sign each WebSocket upgrade with SigV4 (feature
    /// `iam`).
    #[cfg(feature = "iam")]
    pub iam: Option<IamAuth>,
    /// The format of requests and answers. Default [`Serializer::GraphBinaryV1`].
    pub serializer: Serializer,
    /// The name the server's certificate must be issued for (`wss://` only). Default: the
    /// URL's host. Set it when the address connected to is not the name on the certificate:
    /// through an SSH tunnel (`wss://localhost:8182/gremlin` to a certificate for the cluster's
    /// endpoint), or by address.
    pub tls_server_name: Option<String>,
    /// The host (`HOST` or `HOST:PORT`) sent as the upgrade's `Host` header, and so the host an
    /// IAM signature is made for. Default: the URL's host and port. Set it behind a load
    /// balancer or a tunnel, where Neptune expects its own endpoint; without a port, the URL's
    /// port is used.
    pub signing_host: Option<String>,
    /// A PEM file of CA certificates trusted in addition to the platform's roots (`wss://`
    /// only), e.g. the private CA of a proxy or a test server.
    pub ca_file: Option<PathBuf>,
}

impl TransportConfig {
    /// The most connections one transport keeps.
    pub const MAX_POOL_SIZE: usize = 64;

    /// The defaults for `url` (checked when the transport connects).
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            ..Self::default()
        }
    }

    /// A builder from the defaults for `url`; [`build`](TransportConfigBuilder::build) checks
    /// every field.
    ///
    /// ```
    /// use std::time::Duration;
    /// use neptune_batch::transport::{Serializer, TransportConfig};
    ///
    /// let config = TransportConfig::builder("wss://my-cluster.example.com:8182/gremlin")
    ///     .pool_size(4)
    ///     .request_timeout(Duration::from_secs(30))
    ///     .serializer(Serializer::GraphSonV3)
    ///     .build()?;
    /// assert_eq!(config.pool_size, 4);
    /// # Ok::<(), neptune_batch::ConfigError>(())
    /// ```
    pub fn builder(url: impl Into<String>) -> TransportConfigBuilder {
        TransportConfigBuilder {
            config: Self::new(url),
        }
    }

    /// Checks every field against what can work; the error names the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |field: &str, reason: &str| Err(ConfigError::new(field, reason));
        let rest = match self
            .url
            .strip_prefix("wss://")
            .or_else(|| self.url.strip_prefix("ws://"))
        {
            Some(r) => r,
            None => return bad("url", "must start with ws:// or wss://"),
        };
        if rest.split('/').next().unwrap_or_default().is_empty() {
            return bad("url", "has no host");
        }
        if self.pool_size == 0 || self.pool_size > Self::MAX_POOL_SIZE {
            return bad("pool_size", "must be between 1 and 64");
        }
        if self.connect_timeout.is_zero() {
            return bad("connect_timeout", "must be positive");
        }
        if self.request_timeout.is_zero() {
            return bad("request_timeout", "must be positive");
        }
        if self.max_connection_lifetime.is_zero()
            || self.max_connection_lifetime >= NEPTUNE_MAX_CONNECTION_AGE
        {
            return bad(
                "max_connection_lifetime",
                "must be positive and below Neptune's 10-day connection limit",
            );
        }
        let tls = self.url.starts_with("wss://");
        if let Some(name) = &self.tls_server_name {
            if !tls {
                return bad("tls_server_name", "applies to wss:// only");
            }
            if rustls::pki_types::ServerName::try_from(name.as_str()).is_err() {
                return bad("tls_server_name", "is not a DNS name or an IP address");
            }
        }
        if let Some(host) = &self.signing_host {
            if host.is_empty()
                || host.contains(['/', '@', ' '])
                || host.parse::<http::uri::Authority>().is_err()
            {
                return bad("signing_host", "must be HOST or HOST:PORT");
            }
        }
        if let Some(path) = &self.ca_file {
            if !tls {
                return bad("ca_file", "applies to wss:// only");
            }
            if let Err(why) = super::tls::read_ca_file(path) {
                return Err(ConfigError::new("ca_file", why));
            }
        }
        #[cfg(feature = "iam")]
        let loopback = ["127.0.0.1", "localhost", "[::1]"]
            .iter()
            .any(|h| rest.starts_with(h));
        #[cfg(feature = "iam")]
        if self.iam.is_some() && !self.url.starts_with("wss://") && !loopback {
            return bad(
                "iam",
                "IAM authentication needs wss:// (plain ws:// only on loopback)",
            );
        }
        Ok(())
    }
}

/// Builds a [`TransportConfig`] from its defaults (see [`TransportConfig::builder`]); each
/// setter documents its field.
#[derive(Debug, Clone)]
#[must_use]
pub struct TransportConfigBuilder {
    config: TransportConfig,
}

/// A builder that starts from `config`.
impl From<TransportConfig> for TransportConfigBuilder {
    fn from(config: TransportConfig) -> Self {
        Self { config }
    }
}

impl TransportConfigBuilder {
    /// [`TransportConfig::url`].
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.config.url = url.into();
        self
    }

    /// [`TransportConfig::pool_size`].
    pub fn pool_size(mut self, pool_size: usize) -> Self {
        self.config.pool_size = pool_size;
        self
    }

    /// [`TransportConfig::connect_timeout`].
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.config.connect_timeout = timeout;
        self
    }

    /// [`TransportConfig::request_timeout`].
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.config.request_timeout = timeout;
        self
    }

    /// [`TransportConfig::max_connection_lifetime`].
    pub fn max_connection_lifetime(mut self, lifetime: Duration) -> Self {
        self.config.max_connection_lifetime = lifetime;
        self
    }

    /// [`TransportConfig::iam`].
    #[cfg(feature = "iam")]
    pub fn iam(mut self, iam: impl Into<Option<IamAuth>>) -> Self {
        self.config.iam = iam.into();
        self
    }

    /// [`TransportConfig::serializer`].
    pub fn serializer(mut self, serializer: Serializer) -> Self {
        self.config.serializer = serializer;
        self
    }

    /// [`TransportConfig::tls_server_name`].
    pub fn tls_server_name(mut self, name: impl Into<Option<String>>) -> Self {
        self.config.tls_server_name = name.into();
        self
    }

    /// [`TransportConfig::signing_host`].
    pub fn signing_host(mut self, host: impl Into<Option<String>>) -> Self {
        self.config.signing_host = host.into();
        self
    }

    /// [`TransportConfig::ca_file`].
    pub fn ca_file(mut self, path: impl Into<Option<PathBuf>>) -> Self {
        self.config.ca_file = path.into();
        self
    }

    /// The configuration, if every field can work.
    pub fn build(self) -> Result<TransportConfig, ConfigError> {
        self.config.validate()?;
        Ok(self.config)
    }

    /// The configuration as set, checked later by whoever embeds it.
    pub(crate) fn into_unchecked(self) -> TransportConfig {
        self.config
    }
}

impl Default for TransportConfig {
    fn default() -> Self {
        Self {
            url: "ws://127.0.0.1:8182/gremlin".into(),
            pool_size: 1,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            max_connection_lifetime: Duration::from_secs(3600),
            #[cfg(feature = "iam")]
            iam: None,
            serializer: Serializer::default(),
            tls_server_name: None,
            signing_host: None,
            ca_file: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_bad_fields_are_named() {
        assert!(TransportConfig::default().validate().is_ok());
        let e = TransportConfig::builder("http://x").build().unwrap_err();
        assert_eq!(e.field(), "url");
        let e = TransportConfig::builder("ws://x/gremlin")
            .pool_size(0)
            .build()
            .unwrap_err();
        assert_eq!(e.field(), "pool_size");
        let c = TransportConfig::builder("ws://x/gremlin")
            .pool_size(3)
            .build()
            .unwrap();
        assert_eq!((c.url.as_str(), c.pool_size), ("ws://x/gremlin", 3));
    }

    #[test]
    fn connection_settings_are_checked_and_named() {
        let wss = || TransportConfig::builder("wss://localhost:8182/gremlin");
        let field = |b: TransportConfigBuilder| b.build().unwrap_err().field().to_owned();
        assert_eq!(
            field(wss().tls_server_name("not a name!".to_owned())),
            "tls_server_name"
        );
        assert_eq!(
            field(TransportConfig::builder("ws://x/gremlin").tls_server_name("x".to_owned())),
            "tls_server_name"
        );
        assert_eq!(field(wss().signing_host("a/b".to_owned())), "signing_host");
        assert_eq!(field(wss().signing_host(String::new())), "signing_host");
        assert_eq!(
            field(wss().ca_file(PathBuf::from("/no/such/ca.pem"))),
            "ca_file"
        );
        let not_pem = std::env::temp_dir().join(format!("not-pem-{}", std::process::id()));
        std::fs::write(&not_pem, "no certificate here\n").unwrap();
        let e = wss().ca_file(not_pem.clone()).build().unwrap_err();
        std::fs::remove_file(&not_pem).unwrap();
        assert_eq!(e.field(), "ca_file", "{e}");
        let c = wss()
            .tls_server_name("neptune.cluster.example".to_owned())
            .signing_host("neptune.cluster.example:8182".to_owned())
            .build()
            .unwrap();
        assert_eq!(
            c.tls_server_name.as_deref(),
            Some("neptune.cluster.example")
        );
    }
}
