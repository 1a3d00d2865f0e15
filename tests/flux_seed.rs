//! Placement on the seed's real layout: the repository skeleton of the
//! seed cluster (`seed-cluster/cluster-topology.json` in the corpus: every
//! app's Flux Kustomizations with their paths and target namespaces, its
//! HelmReleases at their real paths, its database clusters) rebuilt as
//! Flux reads it — install.yaml beside the app directories, listed by
//! namespace kustomizations, no kustomization at the apps root — and the
//! bundled demo capture of that cluster placed into it. Skipped with a
//! note when the corpus is absent.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    let mut old = std::fs::read_to_string(&p).unwrap_or_default();
    old.push_str(text);
    std::fs::write(p, old).unwrap();
}

/// The skeleton of the seed's repository under `repo`; returns the apps root.
fn skeleton(topology: &Value, repo: &Path) -> PathBuf {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let apps_root = "kubernetes/main/apps";
    let mut namespaces: BTreeMap<String, Vec<String>> = BTreeMap::new();
    // Resources of each Flux Kustomization path, relative to it.
    let mut listed: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut paths: Vec<String> = Vec::new();
    for app in topology["apps"].as_array().unwrap() {
        let (name, dir) = (s(&app["app"]), s(&app["path"]));
        let rel = dir.trim_start_matches(&format!("{apps_root}/")).to_string();
        namespaces
            .entry(rel.split('/').next().unwrap().to_string())
            .or_default()
            .push(format!("./{name}/install.yaml"));
        for k in app["flux_kustomizations"].as_array().unwrap() {
            let path = s(&k["path"]);
            paths.push(path.trim_start_matches("./").to_string());
            let mut doc = format!(
                "---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {}\n  namespace: flux-system\nspec:\n",
                s(&k["name"])
            );
            if let Some(t) = k["targetNamespace"].as_str() {
                let _ = writeln!(doc, "  targetNamespace: {t}");
            }
            let _ = write!(
                doc,
                "  path: {path}\n  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n  interval: 1h\n"
            );
            write(repo, &format!("{dir}/install.yaml"), &doc);
        }
        let mut objects: Vec<(String, String)> = Vec::new();
        for h in app["helm"].as_array().unwrap() {
            objects.push((
                s(&h["file"]),
                format!(
                    "---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: {}\nspec:\n  interval: 1h\n",
                    s(&h["release"])
                ),
            ));
        }
        for db in app["databases_owned"].as_array().unwrap() {
            let kind = s(&db["kind"]);
            let kind = kind.rsplit('.').next().unwrap_or_default();
            objects.push((
                s(&db["file"]),
                format!(
                    "---\napiVersion: example.io/v1\nkind: {kind}\nmetadata:\n  name: {}\n",
                    s(&db["name"])
                ),
            ));
        }
        for (file, text) in objects {
            write(repo, &file, &text);
            if let Some(p) = paths
                .iter()
                .filter(|p| file.starts_with(&format!("{p}/")))
                .max_by_key(|p| p.len())
            {
                listed
                    .entry(p.clone())
                    .or_default()
                    .push(format!("./{}", &file[p.len() + 1..]));
            }
        }
    }
    for p in paths {
        let mut k =
            "---\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n"
                .to_string();
        for r in listed.get(&p).into_iter().flatten() {
            let _ = writeln!(k, "  - {r}");
        }
        std::fs::create_dir_all(repo.join(&p)).unwrap();
        std::fs::write(repo.join(&p).join("kustomization.yaml"), k).unwrap();
    }
    for (ns, list) in namespaces {
        let mut k =
            "---\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n"
                .to_string();
        for r in list {
            let _ = writeln!(k, "  - {r}");
        }
        write(repo, &format!("{apps_root}/{ns}/kustomization.yaml"), &k);
    }
    repo.join(apps_root)
}

#[test]
fn the_seed_layout_gives_most_workloads_a_home() {
    let Some(seed) = crate::common::corpus("the seed cluster's layout", "seed-cluster") else {
        return;
    };
    let topology: Value =
        serde_json::from_str(&std::fs::read_to_string(seed.join("cluster-topology.json")).unwrap())
            .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let apps = skeleton(&topology, tmp.path());
    let out = assert_cmd::Command::cargo_bin("flowpolicy")
        .unwrap()
        .arg("recommend")
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo.jsonpb.zst"))
        .args(["--cidr-group", "10.0.0.0/8", "--layout", "gitops", "--root"])
        .arg(&apps)
        .output()
        .unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{err}");
    let placed: usize = err
        .lines()
        .find_map(|l| l.strip_prefix("note: placement: "))
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let homeless: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("): not written: "))
        .collect();
    eprintln!(
        "seed layout: {placed} workload policies placed where Flux applies them, {} without a home:\n{}",
        homeless.len(),
        homeless.join("\n")
    );
    assert!(placed >= 80, "{placed} placed\n{err}");
    assert!(homeless.len() <= 15, "{err}");
    // Sub-components, controllers and renamed directories found their apps.
    let files: Vec<String> = crate::common::tree_files(&apps).into_keys().collect();
    eprintln!(
        "seed layout: {} networkpolicy.yaml files, {}",
        files
            .iter()
            .filter(|f| f.ends_with("networkpolicy.yaml"))
            .count(),
        err.lines().last().unwrap_or_default()
    );
    for f in [
        "cert-manager/cert-manager/app/networkpolicy.yaml",
        "media/immich/app/networkpolicy.yaml",
        "network/cloudflare-tunnel/app/networkpolicy.yaml",
        "dbms/cloudnative-pg/cluster/networkpolicy.yaml",
    ] {
        assert!(files.iter().any(|x| x == f), "{f} missing\n{err}");
    }
}
