//! Writing an output directory atomically: everything is written into a
//! temporary sibling directory, fsynced, then renamed into place, so a crash
//! never leaves half a policy set. An existing directory is only replaced
//! with `force`, and then also atomically (old one moved aside, then removed).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::durable;

/// Writes the documents (path relative to `out`, text) under `out`, then
/// the one `last` gives (asked for once the others are created, so that its
/// text can be worked out meanwhile), and makes them all durable together.
pub fn write_dir(
    out: &Path,
    docs: &[(&Path, &str)],
    force: bool,
    last: impl FnOnce() -> (PathBuf, String),
) -> Result<()> {
    if out.exists() && !force {
        bail!(
            "{} already exists; refusing to overwrite it (pass --force to replace it, or choose another --out)",
            out.display()
        );
    }
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "policies".into());
    let tmp = parent.join(format!(".{name}.flowpolicy-tmp-{}", std::process::id()));
    if tmp.exists() {
        fs::remove_dir_all(&tmp).ok();
    }
    if let Err(e) = write_all(&tmp, docs, last) {
        // Nothing partial is left behind.
        fs::remove_dir_all(&tmp).ok();
        return Err(e).with_context(|| format!("writing {}", out.display()));
    }
    if out.exists() {
        let old: PathBuf = parent.join(format!(".{name}.flowpolicy-old-{}", std::process::id()));
        fs::rename(out, &old).with_context(|| format!("moving aside {}", out.display()))?;
        if let Err(e) = fs::rename(&tmp, out) {
            fs::rename(&old, out).ok();
            fs::remove_dir_all(&tmp).ok();
            return Err(e).with_context(|| format!("renaming into {}", out.display()));
        }
        fs::remove_dir_all(&old).with_context(|| format!("removing {}", old.display()))?;
    } else if let Err(e) = fs::rename(&tmp, out) {
        fs::remove_dir_all(&tmp).ok();
        return Err(e).with_context(|| format!("renaming into {}", out.display()));
    }
    crate::timings::mark("renamed");
    Ok(())
}

fn write_all(
    root: &Path,
    docs: &[(&Path, &str)],
    last: impl FnOnce() -> (PathBuf, String),
) -> Result<()> {
    fs::create_dir_all(root)?;
    let mut dirs: Vec<PathBuf> = docs
        .iter()
        .filter_map(|(path, _)| root.join(path).parent().map(Path::to_path_buf))
        .collect();
    dirs.sort();
    dirs.dedup();
    for dir in dirs {
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let files: Vec<(PathBuf, &[u8])> = docs
        .iter()
        .map(|(path, text)| (root.join(path), text.as_bytes()))
        .collect();
    crate::timings::mark("directories created");
    durable::write_unsynced(&files).map_err(durable::failed)?;
    crate::timings::mark("files created");
    let (path, text) = last();
    let path = root.join(path);
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut all = files;
    all.push((path, text.as_bytes()));
    durable::write_unsynced(&all[all.len() - 1..]).map_err(durable::failed)?;
    durable::sync(&all).map_err(durable::failed)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::yaml::Document;

    fn doc(path: &str, text: &str) -> Document {
        Document {
            path: PathBuf::from(path),
            text: text.into(),
        }
    }

    fn borrowed(docs: &[Document]) -> Vec<(&Path, &str)> {
        docs.iter()
            .map(|d| (d.path.as_path(), d.text.as_str()))
            .collect()
    }

    /// The documents and a plan written last.
    fn write_dir(out: &Path, docs: &[Document], force: bool) -> Result<()> {
        super::write_dir(out, &borrowed(docs), force, || {
            (PathBuf::from("ROLLOUT.md"), "plan\n".into())
        })
    }

    #[test]
    fn refuses_to_clobber_without_force_and_replaces_with_it() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("policies");
        let docs = vec![doc("ns/a.yaml", "a: 1\n")];
        write_dir(&out, &docs, false).unwrap();
        assert_eq!(fs::read_to_string(out.join("ns/a.yaml")).unwrap(), "a: 1\n");
        let err = write_dir(&out, &docs, false).unwrap_err();
        assert!(err.to_string().contains("--force"));
        write_dir(&out, &[doc("ns/b.yaml", "b: 2\n")], true).unwrap();
        assert!(!out.join("ns/a.yaml").exists());
        assert!(out.join("ns/b.yaml").exists());
        let leftovers: Vec<_> = fs::read_dir(tmp.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1);
    }

    /// The last document is asked for once the others are written, and
    /// lands in the same tree.
    #[test]
    fn the_last_document_follows_the_others() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("policies");
        let docs = vec![doc("ns/a.yaml", "a: 1\n")];
        super::write_dir(&out, &borrowed(&docs), false, || {
            let staged: Vec<PathBuf> = fs::read_dir(tmp.path())
                .unwrap()
                .map(|e| e.unwrap().path().join("ns/a.yaml"))
                .collect();
            assert!(staged.iter().all(|p| p.exists()), "{staged:?}");
            (PathBuf::from("plan/ROLLOUT.md"), "plan\n".into())
        })
        .unwrap();
        assert_eq!(fs::read_to_string(out.join("ns/a.yaml")).unwrap(), "a: 1\n");
        assert_eq!(
            fs::read_to_string(out.join("plan/ROLLOUT.md")).unwrap(),
            "plan\n"
        );
    }

    #[test]
    fn a_failed_write_leaves_nothing_behind() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("policies");
        // `ns` is a file, so `ns/b.yaml` cannot be written.
        let docs = vec![doc("ns", "a: 1\n"), doc("ns/b.yaml", "b: 2\n")];
        let err = write_dir(&out, &docs, false).unwrap_err();
        assert!(format!("{err:#}").contains("policies"), "{err:#}");
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
    }
}
