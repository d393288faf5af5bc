//! Amazon Neptune IAM authentication: a SigV4 signature (service `neptune-db`) on the WebSocket
//! upgrade request, computed afresh for every new connection.

use super::error::GremlinError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use std::error::Error;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The SigV4 service name of Neptune's data plane.
pub const NEPTUNE_SERVICE: &str = "neptune-db";

/// Credentials and region used to sign WebSocket upgrades.
#[derive(Clone)]
pub struct IamAuth {
    region: String,
    credentials: SharedCredentialsProvider,
}

impl std::fmt::Debug for IamAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IamAuth")
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl IamAuth {
    /// Signs with credentials from `provider` (e.g. static keys in tests, or any provider of
    /// the AWS SDK) for `region`.
    pub fn new(region: impl Into<String>, provider: impl ProvideCredentials + 'static) -> Self {
        Self {
            region: region.into(),
            credentials: SharedCredentialsProvider::new(provider),
        }
    }

    /// Credentials from the standard AWS chain (environment, profile, web identity, ECS/EC2
    /// metadata); the region from `region` or else the chain (`AWS_REGION`, profile).
    pub async fn from_default_chain(region: Option<String>) -> Result<Self, GremlinError> {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(r) = region {
            loader = loader.region(aws_config::Region::new(r));
        }
        let config = loader.load().await;
        let region = config
            .region()
            .map(|r| r.to_string())
            .ok_or_else(|| GremlinError::signing("no AWS region configured", None))?;
        let credentials = config
            .credentials_provider()
            .ok_or_else(|| GremlinError::signing("no AWS credentials provider", None))?;
        Ok(Self {
            region,
            credentials,
        })
    }

    /// The signing region.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// Adds `Authorization`, `X-Amz-Date` and (for temporary credentials) `X-Amz-Security-Token`
    /// to a WebSocket upgrade request. The signature covers the method, path, query and the
    /// `Host` header the request will send.
    pub(crate) async fn sign(&self, request: &mut http::Request<()>) -> Result<(), GremlinError> {
        let credentials = tokio::time::timeout(
            Duration::from_secs(10),
            self.credentials.provide_credentials(),
        )
        .await
        .map_err(|_| GremlinError::signing("the credentials provider timed out", None))?
        .map_err(|e| GremlinError::signing("no credentials", cause(e)))?;
        let identity = credentials.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(NEPTUNE_SERVICE)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| GremlinError::signing("unusable signing parameters", cause(e)))?;
        let host = request
            .headers()
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .ok_or_else(|| GremlinError::signing("the request has no Host header", None))?
            .to_owned();
        let uri = request.uri().to_string();
        let signable = SignableRequest::new(
            "GET",
            uri,
            std::iter::once(("host", host.as_str())),
            SignableBody::Bytes(&[]),
        )
        .map_err(|e| GremlinError::signing("the request cannot be signed", cause(e)))?;
        let (instructions, _signature) = sign(signable, &params.into())
            .map_err(|e| GremlinError::signing("signing failed", cause(e)))?
            .into_parts();
        let headers: Vec<(String, String)> = instructions
            .headers()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        for (name, value) in headers {
            let name = http::HeaderName::from_bytes(name.as_bytes()).map_err(|e| {
                GremlinError::signing("a signature header name is invalid", cause(e))
            })?;
            let value = http::HeaderValue::from_str(&value).map_err(|e| {
                GremlinError::signing("a signature header value is invalid", cause(e))
            })?;
            request.headers_mut().insert(name, value);
        }
        Ok(())
    }
}

/// A signing failure's cause, kept for [`GremlinError::Signing`].
fn cause(e: impl Error + Send + Sync + 'static) -> Option<Arc<dyn Error + Send + Sync>> {
    Some(Arc::new(e))
}
