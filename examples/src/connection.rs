//! How the binaries reach the Gremlin endpoint beyond its URL: the TLS name to verify, the host
//! to name and sign for, a CA file, IAM authentication. Shared options of every binary that
//! connects (flatten [`ConnectionArgs`] into its arguments), resolved once into a
//! [`Connection`] applied to every transport and sink it opens.

use neptune_batch::transport::{GremlinError, IamAuth, TransportConfig, TransportConfigBuilder};
use neptune_batch::{GremlinSinkConfig, GremlinSinkConfigBuilder};
use std::path::PathBuf;

/// The connection options of a binary that reaches a Gremlin endpoint.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConnectionArgs {
    /// The name the endpoint's TLS certificate must be issued for, when the URL's host is not
    /// on it: through an SSH tunnel (wss://localhost:8182/gremlin to the cluster's endpoint),
    /// or by address. Default: the URL's host.
    #[arg(long, env = "GREMLIN_TLS_SERVER_NAME", value_name = "NAME")]
    pub tls_server_name: Option<String>,
    /// The host (HOST or HOST:PORT) sent as the connection's Host header and, with --iam-auth,
    /// signed for: the cluster's endpoint, when connecting through a load balancer or a
    /// tunnel. Without a port, the URL's. Default: the URL's host and port.
    #[arg(long, env = "GREMLIN_SIGNING_HOST", value_name = "HOST[:PORT]")]
    pub signing_host: Option<String>,
    /// A PEM file of CA certificates to trust besides the platform's roots (wss:// only).
    #[arg(long, env = "GREMLIN_CA_FILE", value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Neptune IAM database authentication: sign each connection with SigV4, with credentials
    /// and region from the AWS SDK's chain (environment, profile, instance or task role;
    /// AWS_REGION).
    #[arg(long, env = "GREMLIN_IAM_AUTH")]
    pub iam_auth: bool,
}

impl ConnectionArgs {
    /// The settings, with IAM credentials found if asked for. A missing region or credentials
    /// provider is a usage error.
    pub async fn resolve(&self) -> Result<Connection, GremlinError> {
        let iam = if self.iam_auth {
            Some(IamAuth::from_default_chain(None).await?)
        } else {
            None
        };
        Ok(Connection {
            tls_server_name: self.tls_server_name.clone(),
            signing_host: self.signing_host.clone(),
            ca_file: self.ca_file.clone(),
            iam,
        })
    }
}

/// Resolved connection settings (see [`ConnectionArgs`]); the default connects by the URL alone.
#[derive(Debug, Clone, Default)]
pub struct Connection {
    tls_server_name: Option<String>,
    signing_host: Option<String>,
    ca_file: Option<PathBuf>,
    iam: Option<IamAuth>,
}

impl Connection {
    /// Sets the connection fields of a transport's configuration.
    pub fn apply(&self, config: TransportConfigBuilder) -> TransportConfigBuilder {
        config
            .tls_server_name(self.tls_server_name.clone())
            .signing_host(self.signing_host.clone())
            .ca_file(self.ca_file.clone())
            .iam(self.iam.clone())
    }

    /// A transport's configuration for `url`, from the defaults and these settings.
    pub fn transport(&self, url: &str) -> TransportConfigBuilder {
        self.apply(TransportConfig::builder(url))
    }

    /// A sink's configuration for `url`, from the defaults and these settings.
    pub fn sink(&self, url: &str) -> GremlinSinkConfigBuilder {
        GremlinSinkConfig::builder(url).writer(|w| self.apply(w))
    }

    /// The `GREMLIN_*` variables that give these settings to a child process (the KCL
    /// daemon's record processors).
    pub fn environment(&self) -> Vec<(&'static str, String)> {
        let mut vars = Vec::new();
        if let Some(name) = &self.tls_server_name {
            vars.push(("GREMLIN_TLS_SERVER_NAME", name.clone()));
        }
        if let Some(host) = &self.signing_host {
            vars.push(("GREMLIN_SIGNING_HOST", host.clone()));
        }
        if let Some(file) = &self.ca_file {
            vars.push(("GREMLIN_CA_FILE", file.display().to_string()));
        }
        if self.iam.is_some() {
            vars.push(("GREMLIN_IAM_AUTH", "true".to_owned()));
        }
        vars
    }
}
