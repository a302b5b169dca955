//! The generated crate's `Cargo.lock`: the dependency versions protogate is built and tested
//! with, so a deployed proxy builds with those and not with whatever is newest that day.
//!
//! Every generated crate has the same dependencies (one `Cargo.toml` template makes them all),
//! so they share one lock: `templates/Cargo.lock`, the workspace's versions as Cargo resolves
//! them for the example crate built on its own (the golden test keeps it so). Only the crate's
//! own entry differs: its name, and so its place among the entries.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::Error;

/// The lock of a generated crate named [`EXAMPLE`].
const TEMPLATE_LOCK: &str = include_str!("../../templates/Cargo.lock");

/// The crate name in [`TEMPLATE_LOCK`].
const EXAMPLE: &str = "protogate-example";

/// One `[[package]]` entry of a lock file.
struct Package<'a> {
    name: &'a str,
    version: &'a str,
    /// The entry's text, from its `name =` line to its last line.
    text: &'a str,
    /// Its `dependencies` entries: `"name"`, `"name version"` or `"name version (source)"`.
    dependencies: Vec<&'a str>,
}

/// The runtime crate, a path dependency in the template lock.
const RUNTIME: &str = "protogate-runtime";

/// The `Cargo.lock` of a generated crate named `crate_name`. When the runtime comes from
/// crates.io (`registry_runtime`), its entry is left out: the path entry would be wrong, and
/// Cargo adds the registry's on the first build (the other versions stay as locked).
pub fn render(crate_name: &str, registry_runtime: bool) -> Result<String, Error> {
    let lock = lock_for(TEMPLATE_LOCK, EXAMPLE, crate_name)?;
    if !registry_runtime {
        return Ok(lock);
    }
    let mut parts = lock.split("\n[[package]]\n");
    let mut out = String::from(parts.next().unwrap_or_default());
    for part in parts.filter(|p| package(p).name != RUNTIME) {
        push_entry(&mut out, part);
    }
    Ok(out)
}

/// The entries of `lock` that `root` reaches, `root` renamed to `name`.
fn lock_for(lock: &str, root: &str, name: &str) -> Result<String, Error> {
    let mut parts = lock.split("\n[[package]]\n");
    let header = parts.next().unwrap_or_default();
    let packages: Vec<Package<'_>> = parts.map(package).collect();
    let mut by_name: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, p) in packages.iter().enumerate() {
        by_name.entry(p.name).or_default().push(i);
    }
    let root_index = by_name
        .get(root)
        .and_then(|v| v.first().copied())
        .ok_or_else(|| Error::Internal(format!("{root} is not in protogate's Cargo.lock")))?;

    let mut reached = BTreeSet::from([root_index]);
    let mut stack = vec![root_index];
    while let Some(i) = stack.pop() {
        for entry in &packages[i].dependencies {
            let mut words = entry.split(' ');
            let dep = words.next().unwrap_or_default();
            let version = words.next();
            let candidates = by_name.get(dep).map(Vec::as_slice).unwrap_or_default();
            let found = candidates
                .iter()
                .copied()
                .find(|&c| version.is_none_or(|v| packages[c].version == v))
                .ok_or_else(|| {
                    Error::Internal(format!("Cargo.lock: `{entry}` is not an entry of the lock"))
                })?;
            if reached.insert(found) {
                stack.push(found);
            }
        }
    }

    // Entries in the lock's own order, the renamed root among them by its new name.
    let root_text = packages[root_index].text.replacen(
        &format!("name = \"{root}\""),
        &format!("name = \"{name}\""),
        1,
    );
    let mut out = String::from(header);
    let mut placed = false;
    for (i, p) in packages.iter().enumerate() {
        if i == root_index || !reached.contains(&i) {
            continue;
        }
        if !placed && p.name > name {
            push_entry(&mut out, &root_text);
            placed = true;
        }
        push_entry(&mut out, p.text);
    }
    if !placed {
        push_entry(&mut out, &root_text);
    }
    Ok(out)
}

fn push_entry(out: &mut String, text: &str) {
    out.push_str("\n[[package]]\n");
    out.push_str(text.trim_end_matches('\n'));
    out.push('\n');
}

/// Reads one entry's name, version and dependencies.
fn package(text: &str) -> Package<'_> {
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(" = \""))
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or_default()
    };
    let dependencies = text
        .split_once("dependencies = [\n")
        .and_then(|(_, rest)| rest.split_once(']'))
        .map(|(list, _)| {
            list.lines()
                .filter_map(|l| l.trim().trim_end_matches(',').strip_prefix('"'))
                .filter_map(|l| l.strip_suffix('"'))
                .collect()
        })
        .unwrap_or_default();
    Package {
        name: field("name"),
        version: field("version"),
        text,
        dependencies,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = "# This file is automatically @generated by Cargo.\n\
# It is not intended for manual editing.\nversion = 4\n\n\
[[package]]\nname = \"a\"\nversion = \"1.0.0\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"00\"\n\n\
[[package]]\nname = \"b\"\nversion = \"0.1.0\"\ndependencies = [\n \"z 2.0.0\",\n]\n\n\
[[package]]\nname = \"example\"\nversion = \"0.1.0\"\ndependencies = [\n \"a\",\n \"z 1.0.0\",\n]\n\n\
[[package]]\nname = \"z\"\nversion = \"1.0.0\"\n\n\
[[package]]\nname = \"z\"\nversion = \"2.0.0\"\n";

    #[test]
    fn keeps_what_the_root_reaches_under_the_new_name() -> Result<(), Error> {
        let lock = lock_for(LOCK, "example", "my-proxy")?;
        let names: Vec<&str> = lock
            .lines()
            .filter_map(|l| l.strip_prefix("name = "))
            .collect();
        assert_eq!(names, ["\"a\"", "\"my-proxy\"", "\"z\""]);
        assert!(lock.contains("checksum = \"00\"\n\n[[package]]\nname = \"my-proxy\""));
        assert!(!lock.contains("2.0.0"), "{lock}");
        assert!(lock.starts_with("# This file is automatically @generated by Cargo."));
        assert!(lock.ends_with("version = \"1.0.0\"\n"), "{lock}");
        let first = lock_for(LOCK, "example", "aa")?;
        let names: Vec<&str> = first
            .lines()
            .filter_map(|l| l.strip_prefix("name = "))
            .collect();
        assert_eq!(names, ["\"a\"", "\"aa\"", "\"z\""]);
        Ok(())
    }

    #[test]
    fn the_template_lock_has_the_example() -> Result<(), Error> {
        let lock = render("proxy", false)?;
        assert!(lock.contains("name = \"proxy\""));
        assert!(lock.contains("name = \"tonic\""));
        assert!(
            !lock.contains("name = \"protogate\""),
            "the generator is not a dependency"
        );
        assert!(lock.contains("name = \"protogate-runtime\""));
        let registry = render("proxy", true)?;
        assert!(!registry.contains("name = \"protogate-runtime\""));
        assert!(registry.contains("name = \"tonic\""));
        Ok(())
    }
}
