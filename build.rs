//! `STUDIUM_TEST_PG=off` switches the PostgreSQL half of the test suite off: its tests are then
//! compiled as ignored, so the summary reports them as ignored rather than passed.
fn main() {
    println!("cargo:rerun-if-env-changed=STUDIUM_TEST_PG");
    println!("cargo:rustc-check-cfg=cfg(studium_pg_off)");
    if std::env::var("STUDIUM_TEST_PG").is_ok_and(|v| v.eq_ignore_ascii_case("off")) {
        println!("cargo:rustc-cfg=studium_pg_off");
    }
}
