//! Where a generated crate lands among Cargo workspaces. Cargo refuses to build a package that
//! lies below a workspace root whose `members` do not list it (and whose `exclude` does not
//! leave it out) with "current package believes it's in a workspace when it's not": said at the
//! first build, far from the generation that caused it. The generator says it instead, with the
//! line to add.

use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

/// The part of a `Cargo.toml` that decides workspace membership.
#[derive(Deserialize)]
struct Manifest {
    workspace: Option<Workspace>,
}

#[derive(Deserialize)]
struct Workspace {
    #[serde(default)]
    members: Vec<String>,
    #[serde(default)]
    exclude: Vec<String>,
}

/// A note when a crate generated into `out` would not build where it is: the nearest workspace
/// root above it neither lists it as a member nor excludes it. `None` when it builds: no
/// workspace above, or one that takes it in or leaves it out.
pub fn membership_note(out: &Path) -> Option<String> {
    let out = absolute(out)?;
    let (root, workspace) = out.ancestors().skip(1).find_map(|dir| {
        let text = std::fs::read_to_string(dir.join("Cargo.toml")).ok()?;
        let manifest: Manifest = basic_toml::from_str(&text).ok()?;
        Some((dir.to_path_buf(), manifest.workspace?))
    })?;
    let relative = out.strip_prefix(&root).ok()?;
    let relative = relative.to_string_lossy().replace('\\', "/");
    let listed = |entries: &[String], prefix_too: bool| {
        entries.iter().any(|entry| {
            let entry = entry.trim_end_matches('/');
            // Cargo expands members against the file system: `*` stays within a directory.
            let options = glob::MatchOptions {
                require_literal_separator: true,
                ..glob::MatchOptions::new()
            };
            let matches =
                glob::Pattern::new(entry).is_ok_and(|p| p.matches_with(&relative, options));
            matches || (prefix_too && Path::new(&relative).starts_with(entry))
        })
    };
    // Cargo's `exclude` entries are paths that exclude everything below them.
    if listed(&workspace.members, false) || listed(&workspace.exclude, true) {
        return None;
    }
    Some(format!(
        "{} is inside the Cargo workspace of {}, which does not list it, so Cargo will not build it there. \
         Add \"{relative}\" to `members` in that `[workspace]` table (the crate then shares its Cargo.lock and target/), \
         or to `exclude` to build it on its own",
        out.display(),
        root.join("Cargo.toml").display(),
    ))
}

/// `path` made absolute against the current directory, with `.` and `..` resolved by name
/// (the directory may not exist yet).
fn absolute(path: &Path) -> Option<PathBuf> {
    let joined = std::env::current_dir().ok()?.join(path);
    let mut clean = PathBuf::new();
    for component in joined.components() {
        match component {
            Component::ParentDir => {
                clean.pop();
            }
            Component::CurDir => {}
            other => clean.push(other),
        }
    }
    Some(clean)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn workspace(members: &str, exclude: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("Cargo.toml"),
            format!("[workspace]\nmembers = [{members}]\nexclude = [{exclude}]\n"),
        )
        .unwrap();
        dir
    }

    #[test]
    fn a_crate_the_workspace_does_not_list_gets_the_line_to_add() {
        let root = workspace("\"app\"", "");
        let note = membership_note(&root.path().join("gen/proxy")).unwrap();
        assert!(note.contains("Add \"gen/proxy\" to `members`"), "{note}");
        assert!(
            note.contains(&root.path().join("Cargo.toml").display().to_string()),
            "{note}"
        );
    }

    #[test]
    fn members_globs_and_excludes_build() {
        let root = workspace("\"app\", \"gen/*\"", "\"vendor\"");
        assert_eq!(membership_note(&root.path().join("gen/proxy")), None);
        assert_eq!(membership_note(&root.path().join("app")), None);
        assert_eq!(membership_note(&root.path().join("vendor/proxy")), None);
        assert_eq!(membership_note(&root.path().join("app/../gen/x")), None);
        assert!(membership_note(&root.path().join("gen/a/b")).is_some());
    }

    #[test]
    fn no_workspace_above_or_a_package_manifest_is_no_note() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(membership_note(&dir.path().join("proxy")), None);
        std::fs::write(
            dir.path().join("Cargo.toml"),
            "[package]\nname = \"x\"\nversion = \"0.1.0\"\n",
        )
        .unwrap();
        assert_eq!(membership_note(&dir.path().join("proxy")), None);
    }
}
