//! The deployment template: valid for cfn-lint, its dashboard the one metrics-sink generates,
//! and its permissions scoped to the stack's own resources.

use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    local_services::workspace_root()
}

fn template() -> String {
    std::fs::read_to_string(root().join("deploy/template.yaml")).unwrap()
}

#[test]
fn the_template_passes_cfn_lint() {
    let out = Command::new("bash")
        .arg("deploy/lint.sh")
        .current_dir(root())
        .output()
        .expect("bash runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "cfn-lint failed:\n{text}");
    assert!(text.contains("cfn-lint 1.58.0"), "{text}");
    assert!(text.contains("template(s) passed"), "{text}");
}

#[test]
fn the_linter_rejects_a_misspelt_event_source_mapping_property() {
    // Shows the lint step can fail: the mapping property the original lacked, misspelt.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    let text = template().replace("BisectBatchOnFunctionError: !If", "BisectBatchOnError: !If");
    std::fs::write(&bad, text).unwrap();
    let out = Command::new("bash")
        .arg("deploy/lint.sh")
        .arg(&bad)
        .current_dir(root())
        .output()
        .expect("bash runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("BisectBatchOnError"));
}

/// The literal block under `DashboardBody: !Sub |`.
fn dashboard_block(template: &str) -> String {
    let mut lines = template.lines();
    let header = lines
        .by_ref()
        .find(|l| l.trim_start().starts_with("DashboardBody: !Sub |"))
        .expect("the template has a DashboardBody literal block");
    let indent = header.len() - header.trim_start().len();
    lines
        .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > indent)
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_dashboard_is_the_one_metrics_sink_generates_for_the_function() {
    let config =
        metrics_sink::dashboard::DashboardConfig::builder("${ClusterId}", "${AWS::Region}")
            .lambda_function("${WriterFunction}".to_owned())
            .build()
            .expect("a valid dashboard");
    let in_template: serde_json::Value =
        serde_json::from_str(&dashboard_block(&template())).expect("the body is JSON");
    assert_eq!(
        in_template,
        config.body(),
        "regenerate the block from metrics_sink::dashboard::DashboardConfig:\n{}",
        serde_json::to_string_pretty(&config.body()).unwrap()
    );
    assert!(template().contains(r#"DashboardName: !Sub "stream-2-neptune-${ClusterId}""#));
}

#[test]
fn the_mapping_has_the_failure_handling_the_original_lacked() {
    let t = template();
    for needle in [
        "- ReportBatchItemFailures",
        "BisectBatchOnFunctionError: !If [Bisect, true, false]",
        "MaximumRetryAttempts: !Ref MaximumRetryAttempts",
        "MaximumRecordAgeInSeconds: !Ref MaximumRecordAgeInSeconds",
        "ParallelizationFactor: !Ref ParallelizationFactor",
        "Destination: !GetAtt FailureQueue.Arn",
        "ReservedConcurrentExecutions: !Ref ReservedConcurrency",
        "Runtime: provided.al2023",
    ] {
        assert!(t.contains(needle), "missing: {needle}");
    }
    // The original's parameters and defaults.
    for (name, default) in [
        ("ShardCount", "2"),
        ("BatchReadSize", "1000"),
        ("BatchWriteSize", "100"),
        ("PercentError", "0"),
        ("NeptunePort", "8182"),
    ] {
        let block = t
            .split(&format!("\n  {name}:\n"))
            .nth(1)
            .unwrap_or_else(|| panic!("no parameter {name}"));
        let default_line = block.lines().find(|l| l.trim().starts_with("Default:"));
        assert_eq!(
            default_line.map(|l| l.trim().trim_start_matches("Default:").trim()),
            Some(default),
            "{name}"
        );
    }
}

#[test]
fn enhanced_fan_out_is_an_option_that_points_the_mapping_at_the_stacks_own_consumer() {
    let t = template();
    let consumer = t
        .split("\n  StreamConsumer:\n")
        .nth(1)
        .expect("a StreamConsumer resource");
    assert!(consumer.starts_with("    Type: AWS::Kinesis::StreamConsumer\n    Condition: FanOut\n"));
    assert!(t.contains("FanOut: !Equals [!Ref EnhancedFanOut, \"true\"]"));
    assert!(t.contains(
        "EventSourceArn: !If [FanOut, !GetAtt StreamConsumer.ConsumerARN, !GetAtt Stream.Arn]"
    ));
    let block = t.split("\n  EnhancedFanOut:\n").nth(1).unwrap();
    assert!(
        block.lines().any(|l| l.trim() == "Default: \"false\""),
        "polling by default, as the original"
    );
}

#[test]
fn no_permission_is_a_wildcard_action_and_only_the_network_interfaces_use_any_resource() {
    let t = template();
    let policies = t
        .split("      Policies:\n")
        .nth(1)
        .and_then(|rest| rest.split("\n  WriterFunction:").next())
        .expect("the role's policies");
    for line in policies.lines() {
        let l = line.trim().trim_start_matches("- ");
        if let Some(action) = l.strip_prefix("Action: ") {
            assert!(!action.contains('*'), "wildcard action: {line}");
        } else if let Some((service, action)) = l.split_once(':') {
            // A listed action, e.g. `kinesis:GetRecords`.
            let is_action = !service.is_empty()
                && service
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !action.is_empty()
                && action
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '*');
            if is_action {
                assert!(!action.contains('*'), "wildcard action: {line}");
            }
        }
    }
    // `Resource: "*"` appears only for the network interfaces Lambda creates in the VPC.
    let any_resource: Vec<usize> = policies
        .match_indices(r#"Resource: "*""#)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(any_resource.len(), 1);
    let interfaces = policies.find("ec2:CreateNetworkInterface").unwrap();
    assert!(any_resource[0] > interfaces);
    // Metrics are embedded-metric-format lines in the function's log: no CloudWatch API call,
    // so no permission for one, and no route out of the VPC but to Neptune.
    assert!(
        !t.contains("cloudwatch:"),
        "the function calls no CloudWatch API"
    );
    let egress = t
        .split("      SecurityGroupEgress:\n")
        .nth(1)
        .and_then(|rest| rest.split("\n\n").next())
        .expect("the writer's egress rules");
    assert_eq!(egress.matches("- Description:").count(), 1, "{egress}");
    assert!(egress.contains("DestinationSecurityGroupId: !Ref NeptuneSecurityGroupId"));
    assert!(policies.contains("Resource: !GetAtt Stream.Arn"));
    // With enhanced fan-out, subscribing is allowed on the stack's own consumer only.
    assert!(policies.contains("Resource: !GetAtt StreamConsumer.ConsumerARN"));
    assert!(policies.contains("Resource: !GetAtt FailureQueue.Arn"));
    assert!(policies
        .contains("neptune-db:${AWS::Region}:${AWS::AccountId}:${NeptuneClusterResourceId}/*"));
}

/// The function's environment block: each variable and its value, a `!Ref` replaced by the
/// parameter's value in `parameters` or else its default.
fn function_environment(template: &str, parameters: &[(&str, &str)]) -> Vec<(String, String)> {
    let default_of = |name: &str| -> String {
        if let Some((_, v)) = parameters.iter().find(|(p, _)| *p == name) {
            return (*v).to_owned();
        }
        let header = format!("\n  {name}:\n");
        let at = template
            .find(&header)
            .unwrap_or_else(|| panic!("parameter {name} is declared"));
        template[at + header.len()..]
            .lines()
            .take_while(|l| l.starts_with("    "))
            .find_map(|l| l.trim().strip_prefix("Default: "))
            .unwrap_or_else(|| panic!("parameter {name} has a default"))
            .trim_matches('"')
            .to_owned()
    };
    let mut lines = template
        .lines()
        .skip_while(|l| l.trim() != "WriterFunction:")
        .skip_while(|l| l.trim() != "Variables:");
    let header = lines
        .next()
        .expect("the function has environment variables");
    let indent = header.len() - header.trim_start().len();
    lines
        .take_while(|l| l.len() - l.trim_start().len() > indent)
        .map(|l| {
            let (key, value) = l.trim().split_once(": ").expect("a key: value line");
            let value = match value.strip_prefix("!Ref ") {
                Some(parameter) => default_of(parameter),
                None => value.trim_matches('"').to_owned(),
            };
            (key.to_owned(), value)
        })
        .collect()
}

#[test]
fn the_functions_environment_is_settings_the_function_reads_with_the_parameters_defaults() {
    use graph_ingest::lambda::{LambdaConfig, RecordFormat};
    use neptune_batch::WriteMode;
    let lookup = |env: Vec<(String, String)>| {
        move |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    };
    let env = function_environment(
        &template(),
        &[("NeptuneEndpoint", "db.example"), ("ClusterId", "graph-1")],
    );
    for (key, _) in &env {
        assert!(
            key == "RUST_LOG" || LambdaConfig::setting_names().any(|n| n == key),
            "the template sets {key}, which the function does not read"
        );
    }
    let config = LambdaConfig::from_lookup(lookup(env)).expect("the defaults are valid");
    assert_eq!(
        config.write_mode,
        WriteMode::Merge,
        "the fast path by default"
    );
    assert_eq!(config.record_format, RecordFormat::FollowsCsv);
    assert_eq!(config.placeholder_label, "vertex");

    let env = function_environment(
        &template(),
        &[
            ("NeptuneEndpoint", "db.example"),
            ("ClusterId", "graph-1"),
            ("RecordFormat", "changes"),
            ("PlaceholderLabel", "person"),
        ],
    );
    let config = LambdaConfig::from_lookup(lookup(env)).expect("a change stream's settings");
    assert_eq!(config.record_format, RecordFormat::Changes);
    assert_eq!(config.placeholder_label, "person");

    // The original's behaviour is one parameter away.
    let env = function_environment(
        &template(),
        &[
            ("NeptuneEndpoint", "db.example"),
            ("ClusterId", "graph-1"),
            ("WriteMode", "conditional"),
        ],
    );
    let config = LambdaConfig::from_lookup(lookup(env)).expect("the original's settings");
    let sink = config.sink_config().build().expect("a valid sink");
    assert_eq!(
        (sink.mode, sink.batch_size, sink.in_flight),
        (WriteMode::Conditional, Some(100), Some(1))
    );
}

#[test]
fn the_connection_settings_are_parameters_left_empty_for_their_defaults() {
    use graph_ingest::lambda::LambdaConfig;
    let lookup = |env: Vec<(String, String)>| {
        move |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    };
    let required = [("NeptuneEndpoint", "db.example"), ("ClusterId", "graph-1")];
    let env = function_environment(&template(), &required);
    for (name, parameter) in [
        ("neptune_tls_server_name", "NeptuneTlsServerName"),
        ("neptune_signing_host", "NeptuneSigningHost"),
        ("neptune_ca_file", "NeptuneCaFile"),
    ] {
        assert!(LambdaConfig::setting_names().any(|n| n == name), "{name}");
        assert!(
            template().contains(&format!("{name}: !Ref {parameter}\n")),
            "{name} comes from the parameter {parameter}"
        );
        assert_eq!(
            env.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()),
            Some(""),
            "{parameter} defaults to empty"
        );
    }
    let config = LambdaConfig::from_lookup(lookup(env)).expect("empty means the defaults");
    assert_eq!(
        (config.tls_server_name, config.signing_host, config.ca_file),
        (None, None, None)
    );

    // Behind a load balancer, with IAM.
    let env = function_environment(
        &template(),
        &[
            (
                "NeptuneEndpoint",
                "neptune-lb-123.elb.eu-west-1.amazonaws.com",
            ),
            ("NeptunePort", "443"),
            ("ClusterId", "graph-1"),
            ("IamAuthEnabled", "true"),
            (
                "NeptuneTlsServerName",
                "db.cluster-x.eu-west-1.neptune.amazonaws.com",
            ),
            (
                "NeptuneSigningHost",
                "db.cluster-x.eu-west-1.neptune.amazonaws.com:8182",
            ),
        ],
    );
    let mut with_region = env.clone();
    with_region.push(("AWS_REGION".into(), "eu-west-1".into()));
    let config = LambdaConfig::from_lookup(lookup(with_region)).expect("a balancer's settings");
    assert!(config.iam_auth);
    assert_eq!(
        config.writer_url(),
        "wss://neptune-lb-123.elb.eu-west-1.amazonaws.com:443/gremlin"
    );
    assert_eq!(
        config.tls_server_name.as_deref(),
        Some("db.cluster-x.eu-west-1.neptune.amazonaws.com")
    );
    assert_eq!(
        config.signing_host.as_deref(),
        Some("db.cluster-x.eu-west-1.neptune.amazonaws.com:8182")
    );

    // A CA file that is not in the package is refused, naming the variable and the file.
    let env = function_environment(
        &template(),
        &[&required[..], &[("NeptuneCaFile", "/opt/no-such-ca.pem")]].concat(),
    );
    let e = LambdaConfig::from_lookup(lookup(env)).unwrap_err();
    assert_eq!(e.field, "neptune_ca_file", "{e}");
    assert!(e.to_string().contains("/opt/no-such-ca.pem"), "{e}");
}
