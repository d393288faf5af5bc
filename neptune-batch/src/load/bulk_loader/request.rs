//! The body of `POST /loader`: what to load and how.

use crate::error::ConfigError;

/// The data format of a load. Only `csv` (Gremlin CSV) is used by this workspace; the others
/// are what the loader also accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LoadFormat {
    /// Gremlin CSV (`csv`).
    #[default]
    Csv,
    /// openCypher CSV (`opencypher`).
    OpenCypher,
    /// RDF N-Triples (`ntriples`).
    NTriples,
}

impl LoadFormat {
    fn as_str(self) -> &'static str {
        match self {
            LoadFormat::Csv => "csv",
            LoadFormat::OpenCypher => "opencypher",
            LoadFormat::NTriples => "ntriples",
        }
    }
}

/// The loader's `mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoadMode {
    /// `NEW`: a new load.
    New,
    /// `RESUME`: resume an earlier load from the same source.
    Resume,
    /// `AUTO`: resume when an earlier load from the same source exists, else new.
    Auto,
}

/// The loader's `parallelism`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Parallelism {
    /// `LOW`.
    Low,
    /// `MEDIUM`.
    Medium,
    /// `HIGH`.
    High,
    /// `OVERSUBSCRIBE`.
    Oversubscribe,
}

/// The body of `POST /loader`. [`LoadRequest::new`] gives the original system's request:
/// format `csv`, `failOnError` `FALSE`, nothing else; [`LoadRequest::builder`] sets the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoadRequest {
    /// The S3 URI of a file or a folder (`s3://bucket/prefix/`).
    pub source: String,
    /// The data format.
    pub format: LoadFormat,
    /// The IAM role the cluster assumes to read S3.
    pub iam_role_arn: String,
    /// The region of the S3 bucket.
    pub region: String,
    /// Stop at the first error (`TRUE`) or load what can be loaded (`FALSE`, the default).
    pub fail_on_error: bool,
    /// `mode`, sent when set.
    pub mode: Option<LoadMode>,
    /// `parallelism`, sent when set.
    pub parallelism: Option<Parallelism>,
    /// `updateSingleCardinalityProperties`, sent when set.
    pub update_single_cardinality_properties: Option<bool>,
    /// `queueRequest`, sent when set.
    pub queue_request: Option<bool>,
    /// `dependencies`: load ids that must complete first; sent when not empty (needs
    /// `queue_request`).
    pub dependencies: Vec<String>,
}

impl LoadRequest {
    /// The original system's request for `source`.
    pub fn new(
        source: impl Into<String>,
        iam_role_arn: impl Into<String>,
        region: impl Into<String>,
    ) -> Self {
        Self {
            source: source.into(),
            format: LoadFormat::Csv,
            iam_role_arn: iam_role_arn.into(),
            region: region.into(),
            fail_on_error: false,
            mode: None,
            parallelism: None,
            update_single_cardinality_properties: None,
            queue_request: None,
            dependencies: Vec::new(),
        }
    }

    /// A builder from the original system's request for `source`;
    /// [`build`](LoadRequestBuilder::build) checks what the loader would refuse.
    ///
    /// ```
    /// use neptune_batch::load::bulk_loader::{LoadMode, LoadRequest};
    ///
    /// let request = LoadRequest::builder("s3://bucket/vertices/", "arn:aws:iam::1:role/r", "us-east-1")
    ///     .mode(LoadMode::Auto)
    ///     .build()?;
    /// assert_eq!(request.to_json()["mode"], "AUTO");
    /// # Ok::<(), neptune_batch::ConfigError>(())
    /// ```
    pub fn builder(
        source: impl Into<String>,
        iam_role_arn: impl Into<String>,
        region: impl Into<String>,
    ) -> LoadRequestBuilder {
        LoadRequestBuilder {
            request: Self::new(source, iam_role_arn, region),
        }
    }

    /// Checks the fields the loader would refuse; the error names the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |field: &str, reason: &str| Err(ConfigError::new(field, reason));
        if !self.source.starts_with("s3://") {
            return bad("source", "must be an s3:// URI");
        }
        if self.iam_role_arn.is_empty() {
            return bad("iam_role_arn", "is required");
        }
        if self.region.is_empty() {
            return bad("region", "is required");
        }
        // Dependencies apply to queued loads, and the loader queues at most 64 loads.
        if !self.dependencies.is_empty() && self.queue_request != Some(true) {
            return bad("dependencies", "need queue_request set to true");
        }
        if self.dependencies.len() > 64 {
            return bad("dependencies", "the loader queues at most 64 loads");
        }
        Ok(())
    }

    /// The JSON body, with the loader's `"TRUE"`/`"FALSE"` strings for booleans.
    pub fn to_json(&self) -> serde_json::Value {
        let flag = |b: bool| if b { "TRUE" } else { "FALSE" };
        let mut body = serde_json::json!({
            "source": self.source,
            "format": self.format.as_str(),
            "iamRoleArn": self.iam_role_arn,
            "region": self.region,
            "failOnError": flag(self.fail_on_error),
        });
        let object = body.as_object_mut().expect("built as an object");
        if let Some(mode) = self.mode {
            let mode = match mode {
                LoadMode::New => "NEW",
                LoadMode::Resume => "RESUME",
                LoadMode::Auto => "AUTO",
            };
            object.insert("mode".into(), mode.into());
        }
        if let Some(p) = self.parallelism {
            let p = match p {
                Parallelism::Low => "LOW",
                Parallelism::Medium => "MEDIUM",
                Parallelism::High => "HIGH",
                Parallelism::Oversubscribe => "OVERSUBSCRIBE",
            };
            object.insert("parallelism".into(), p.into());
        }
        if let Some(u) = self.update_single_cardinality_properties {
            object.insert("updateSingleCardinalityProperties".into(), flag(u).into());
        }
        if let Some(q) = self.queue_request {
            object.insert("queueRequest".into(), flag(q).into());
        }
        if !self.dependencies.is_empty() {
            object.insert("dependencies".into(), self.dependencies.clone().into());
        }
        body
    }
}

/// Builds a [`LoadRequest`] (see [`LoadRequest::builder`]); each setter documents its field.
#[derive(Debug, Clone)]
#[must_use]
pub struct LoadRequestBuilder {
    request: LoadRequest,
}

impl LoadRequestBuilder {
    /// [`LoadRequest::format`].
    pub fn format(mut self, format: LoadFormat) -> Self {
        self.request.format = format;
        self
    }

    /// [`LoadRequest::fail_on_error`].
    pub fn fail_on_error(mut self, fail: bool) -> Self {
        self.request.fail_on_error = fail;
        self
    }

    /// [`LoadRequest::mode`].
    pub fn mode(mut self, mode: LoadMode) -> Self {
        self.request.mode = Some(mode);
        self
    }

    /// [`LoadRequest::parallelism`].
    pub fn parallelism(mut self, parallelism: Parallelism) -> Self {
        self.request.parallelism = Some(parallelism);
        self
    }

    /// [`LoadRequest::update_single_cardinality_properties`].
    pub fn update_single_cardinality_properties(mut self, update: bool) -> Self {
        self.request.update_single_cardinality_properties = Some(update);
        self
    }

    /// [`LoadRequest::queue_request`].
    pub fn queue_request(mut self, queue: bool) -> Self {
        self.request.queue_request = Some(queue);
        self
    }

    /// [`LoadRequest::dependencies`].
    pub fn dependencies(mut self, load_ids: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.request.dependencies = load_ids.into_iter().map(Into::into).collect();
        self
    }

    /// The request, if the loader would accept its fields.
    pub fn build(self) -> Result<LoadRequest, ConfigError> {
        self.request.validate()?;
        Ok(self.request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_request_is_the_original_systems() {
        let body = LoadRequest::new(
            "s3://bucket/vertices/",
            "arn:aws:iam::1:role/r",
            "us-east-1",
        )
        .to_json();
        assert_eq!(
            body,
            serde_json::json!({
                "source": "s3://bucket/vertices/",
                "format": "csv",
                "iamRoleArn": "arn:aws:iam::1:role/r",
                "region": "us-east-1",
                "failOnError": "FALSE",
            })
        );
    }

    #[test]
    fn a_request_the_loader_would_refuse_names_the_field() {
        let field = |b: LoadRequestBuilder| b.build().unwrap_err().field().to_owned();
        assert_eq!(
            field(LoadRequest::builder("/local/file", "arn", "us-east-1")),
            "source"
        );
        assert_eq!(field(LoadRequest::builder("s3://b/k", "arn", "")), "region");
        assert_eq!(
            field(LoadRequest::builder("s3://b/k", "arn", "r").dependencies(["l1"])),
            "dependencies"
        );
        let queued = LoadRequest::builder("s3://b/k", "arn", "r")
            .queue_request(true)
            .dependencies(["l1"]);
        assert!(queued.build().is_ok());
    }
}
