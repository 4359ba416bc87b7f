//! [`promtool_check`]: Prometheus' own linter run on an exposition, for tests.

/// Runs Prometheus' own linter (`promtool check metrics`, Debian `prometheus`) on an
/// exposition; `Err` carries promtool's complaint. For tests (feature `testing`).
pub fn promtool_check(exposition: &str) -> Result<(), String> {
    use std::io::Write;
    use std::process::{Command, Stdio};

    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("promtool (scripts/test installs Debian's prometheus): {e}"))?;
    child
        .stdin
        .take()
        .ok_or("promtool stdin")?
        .write_all(exposition.as_bytes())
        .map_err(|e| format!("writing to promtool: {e}"))?;
    let out = child
        .wait_with_output()
        .map_err(|e| format!("promtool: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}
