//! The CloudWatch API: from the environment, or the local emulator on 127.0.0.1:4566.

use crate::{tcp_answers, ServiceError};
use std::time::Duration;

/// A CloudWatch API endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudWatchEndpoint {
    /// `None` for AWS itself, else the URL to pass to the SDK's `endpoint_url`.
    pub url: Option<String>,
}

const HOW_TO_START: &str =
    "start it with `scripts/cloudwatch-local.sh start` (MiniStack on 127.0.0.1:4566), \
     or set CLOUDWATCH_ENDPOINT_URL=http://HOST:PORT (or =aws for AWS itself)";

/// The CloudWatch endpoint: `CLOUDWATCH_ENDPOINT_URL` if set (`aws` means AWS itself), else the
/// local emulator on `127.0.0.1:${CLOUDWATCH_PORT:-4566}`, which must answer.
pub async fn cloudwatch() -> Result<CloudWatchEndpoint, ServiceError> {
    match std::env::var("CLOUDWATCH_ENDPOINT_URL") {
        Ok(v) if v == "aws" => return Ok(CloudWatchEndpoint { url: None }),
        Ok(v) if !v.is_empty() => return Ok(CloudWatchEndpoint { url: Some(v) }),
        _ => {}
    }
    let port: u16 = std::env::var("CLOUDWATCH_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(4566);
    let addr = format!("127.0.0.1:{port}");
    if tcp_answers(&addr, Duration::from_secs(2)).await {
        Ok(CloudWatchEndpoint {
            url: Some(format!("http://{addr}")),
        })
    } else {
        Err(ServiceError::Unavailable {
            service: "CloudWatch API",
            reason: format!("nothing answers on {addr} and CLOUDWATCH_ENDPOINT_URL is not set"),
            how_to_start: HOW_TO_START.into(),
        })
    }
}
