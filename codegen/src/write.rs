//! Writing generated files, and comparing them with what is on disk (`--check`).

use std::collections::BTreeMap;
use std::path::Path;

use similar::TextDiff;

use crate::emit::HEADER;
use crate::error::Error;

/// Writes every file whose contents changed; identical files are left untouched so Cargo does
/// not rebuild what depends on them.
pub fn write_all(out: &Path, files: &BTreeMap<String, String>) -> Result<(), Error> {
    for (relative, contents) in files {
        let path = out.join(relative);
        if std::fs::read(&path).is_ok_and(|old| old == contents.as_bytes()) {
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        std::fs::write(&path, contents).map_err(|e| Error::io(&path, e))?;
    }
    Ok(())
}

/// Generated `.rs` files under `src/` that the current API no longer produces.
pub fn stale_files(out: &Path, files: &BTreeMap<String, String>) -> Vec<String> {
    let mut stale = Vec::new();
    let mut stack = vec![out.join("src")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let Ok(relative) = path.strip_prefix(out) else {
                continue;
            };
            let relative = relative.to_string_lossy().replace('\\', "/");
            // Only a file the API no longer produces is read, to see whether protogate wrote it.
            if relative.ends_with(".rs")
                && !files.contains_key(&relative)
                && std::fs::read_to_string(&path).is_ok_and(|c| c.starts_with(HEADER))
            {
                stale.push(relative);
            }
        }
    }
    stale.sort();
    stale
}

/// Removes generated files the API no longer produces (never a file protogate did not write).
pub fn remove_stale(out: &Path, files: &BTreeMap<String, String>) -> Result<(), Error> {
    for relative in stale_files(out, files) {
        let path = out.join(&relative);
        std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
    }
    Ok(())
}

/// What `--check` found: a unified diff per differing file, and missing and stale files.
#[derive(Debug, Default)]
pub struct Drift {
    pub report: String,
    pub differs: bool,
}

/// Compares the rendered files with the directory without writing anything.
pub fn check(out: &Path, files: &BTreeMap<String, String>) -> Drift {
    let mut drift = Drift::default();
    for (relative, contents) in files {
        let path = out.join(relative);
        // Compared as bytes: only a file that differs is decoded, for its diff.
        let old = std::fs::read(&path).map(|old| {
            if old == contents.as_bytes() {
                None
            } else {
                Some(String::from_utf8(old))
            }
        });
        match old {
            Ok(None) => {}
            Ok(Some(Ok(old))) => {
                drift.differs = true;
                let diff = TextDiff::from_lines(&old, contents);
                drift.report.push_str(&format!(
                    "{}",
                    diff.unified_diff()
                        .context_radius(3)
                        .header(&format!("a/{relative}"), &format!("b/{relative}"))
                ));
            }
            // A file that is not text cannot be diffed: reported as missing.
            Ok(Some(Err(_))) | Err(_) => {
                drift.differs = true;
                drift.report.push_str(&format!("missing: {relative}\n"));
            }
        }
    }
    for relative in stale_files(out, files) {
        drift.differs = true;
        drift
            .report
            .push_str(&format!("stale: {relative} (no longer generated)\n"));
    }
    drift
}
