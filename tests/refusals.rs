//! Mistakes `recommend` refuses with a message naming the path or the
//! remedy and a non-zero exit, instead of writing something nobody wanted:
//! a gitops `--root` that does not exist or is a level too high, a
//! namespace filter no flow matches (typo, case), an empty input, an output
//! that is the input, and a `--force` that would delete files flowpolicy
//! did not write.

use std::path::{Path, PathBuf};

fn demo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo.jsonpb.zst")
}

fn recommend(args: &[&std::ffi::OsStr]) -> (bool, String, String) {
    let out = assert_cmd::Command::cargo_bin("flowpolicy")
        .unwrap()
        .arg("recommend")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn os(s: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(s)
}

fn gitops(root: &Path, extra: &[&str]) -> (bool, String, String) {
    let mut args = vec![demo().into_os_string(), "--layout".into(), "gitops".into()];
    args.push("--root".into());
    args.push(root.as_os_str().to_owned());
    args.extend(extra.iter().map(Into::into));
    let refs: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    recommend(&refs)
}

#[test]
fn a_root_that_does_not_exist_is_refused_and_not_created() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("kubernetes/main/aps");
    let (ok, _, err) = gitops(&root, &[]);
    assert!(!ok);
    assert!(err.contains("aps does not exist"), "{err}");
    assert!(!root.exists());
}

#[test]
fn a_root_one_level_too_high_is_refused_with_the_right_one() {
    let tmp = tempfile::tempdir().unwrap();
    let apps = tmp.path().join("kubernetes/main/apps");
    std::fs::create_dir_all(apps.join("downloads/sonarr/app")).unwrap();
    std::fs::create_dir_all(apps.join("media/immich/app")).unwrap();
    let high = tmp.path().join("kubernetes/main");
    let (ok, _, err) = gitops(&high, &[]);
    assert!(!ok);
    assert!(
        err.contains("no app directory under --root") && err.contains("matches"),
        "{err}"
    );
    assert!(
        err.contains(&format!("did you mean --root {}?", apps.display())),
        "{err}"
    );
    let mut left = Vec::new();
    for e in walk(tmp.path()) {
        left.push(e);
    }
    assert_eq!(left.len(), 0, "nothing written: {left:?}");
}

/// Every file under `d`.
fn walk(d: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(d).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn a_namespace_filter_matching_no_flow_is_refused_with_a_suggestion() {
    let d = demo();
    let (ok, out, err) = recommend(&[d.as_os_str(), os("-n"), os("downlaods")]);
    assert!(!ok);
    assert!(out.is_empty());
    assert!(
        err.contains("--namespace \"downlaods\" (did you mean \"downloads\"?)"),
        "{err}"
    );
    assert!(
        err.contains("namespaces seen: actions-runner-system, "),
        "{err}"
    );
    let (ok, _, err) = recommend(&[d.as_os_str(), os("-n"), os("Downloads")]);
    assert!(!ok);
    assert!(err.contains("did you mean \"downloads\"?"), "{err}");
    // Commas, as other list flags take them.
    let (ok, out, err) = recommend(&[d.as_os_str(), os("-n"), os("downloads,media")]);
    assert!(ok, "{err}");
    assert!(out.contains("namespace: downloads"), "{out}");
    assert!(out.contains("namespace: media"), "{out}");
}

#[test]
fn an_empty_input_is_refused_unless_allowed() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty.jsonpb");
    std::fs::write(&empty, "").unwrap();
    let (ok, out, err) = recommend(&[empty.as_os_str()]);
    assert!(!ok);
    assert!(out.is_empty());
    assert!(
        err.contains("no flows in the input (")
            && err.contains("empty.jsonpb): nothing to learn from"),
        "{err}"
    );
    assert!(err.contains("--allow-empty"), "{err}");
    let (ok, _, err) = recommend(&[empty.as_os_str(), os("--allow-empty")]);
    assert!(ok, "{err}");
}

#[test]
fn an_output_that_is_the_input_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let flows = tmp.path().join("flows.zst");
    std::fs::copy(demo(), &flows).unwrap();
    let (ok, _, err) = recommend(&[
        flows.as_os_str(),
        os("--out"),
        flows.as_os_str(),
        os("--force"),
    ]);
    assert!(!ok);
    assert!(err.contains("is the input"), "{err}");
    assert_eq!(
        std::fs::read(&flows).unwrap(),
        std::fs::read(demo()).unwrap()
    );
    // An input inside the directory --force would replace.
    let dir = tmp.path().join("out");
    std::fs::create_dir_all(&dir).unwrap();
    let inside = dir.join("flows.zst");
    std::fs::copy(demo(), &inside).unwrap();
    let (ok, _, err) = recommend(&[
        inside.as_os_str(),
        os("--out"),
        dir.as_os_str(),
        os("--force"),
    ]);
    assert!(!ok);
    assert!(err.contains("which holds the input"), "{err}");
    assert!(inside.exists());
}

#[test]
fn force_never_deletes_files_flowpolicy_did_not_write_without_naming_them() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("policies");
    let d = demo();
    let args = [
        d.as_os_str(),
        os("-n"),
        os("downloads"),
        os("--out"),
        out.as_os_str(),
    ];
    let (ok, _, err) = recommend(&args);
    assert!(ok, "{err}");
    // flowpolicy's own output is replaced by --force without a word.
    let mut forced = args.to_vec();
    forced.push(os("--force"));
    let (ok, _, err) = recommend(&forced);
    assert!(ok, "{err}");
    std::fs::write(out.join("downloads/README.md"), "mine\n").unwrap();
    std::fs::write(out.join("extra.yaml"), "kind: ConfigMap\n").unwrap();
    let (ok, _, err) = recommend(&forced);
    assert!(!ok);
    assert!(
        err.contains("--force would delete 2 files under")
            && err.contains("that flowpolicy did not write: downloads/README.md, extra.yaml"),
        "{err}"
    );
    assert!(out.join("downloads/README.md").exists());
    assert!(out.join("extra.yaml").exists());
}
