//! Every metric this crate records through the `metrics` facade is described, with a unit, by
//! `metrics_sink::names::describe()`.

#[test]
fn every_recorded_metric_is_described_with_a_unit() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    local_services::metric_names::assert_all_described(&src, 3, metrics_sink::names::describe);
}
