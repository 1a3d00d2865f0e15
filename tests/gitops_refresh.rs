//! `recommend --layout gitops --root DIR` on the demo, end to end with the
//! binary: the tree (golden), kustomization edits keeping other entries, a
//! foreign file never overwritten, a re-run on the same input touching
//! nothing, a superset input changing only the affected file (with
//! `--dry-run` showing it first and writing nothing), and a rule added by
//! hand surviving the refresh and being reported.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

fn demo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo.jsonpb.zst")
}

/// One more connection of dbms/postgres-18: to the kube-apiserver on 443 (an API server port, as on managed control planes).
const EXTRA_FLOW: &str = r#"{"node_name":"k8s-1","time":"2026-11-20T00:00:06Z","flow":{"time":"2026-11-20T00:00:06Z","verdict":"FORWARDED","IP":{"source":"10.201.0.13","destination":"10.11.0.22","ipVersion":"IPv4"},"l4":{"TCP":{"source_port":56999,"destination_port":443,"flags":{"SYN":true}}},"source":{"ID":3932,"identity":10827,"cluster_name":"main","namespace":"dbms","labels":["k8s:cnpg.io/cluster=postgres-18","k8s:cnpg.io/instanceName=postgres-18-1","k8s:cnpg.io/instanceRole=primary","k8s:cnpg.io/podRole=instance","k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name=dbms","k8s:io.cilium.k8s.policy.cluster=main","k8s:io.cilium.k8s.policy.serviceaccount=postgres-18","k8s:io.kubernetes.pod.namespace=dbms","k8s:role=primary"],"pod_name":"postgres-18-1","workloads":[{"name":"postgres-18","kind":"Cluster"}]},"destination":{"identity":7,"labels":["reserved:kube-apiserver","reserved:remote-node"]},"Type":"L3_L4","node_name":"k8s-1","event_type":{"type":4,"sub_type":3},"traffic_direction":"EGRESS","trace_observation_point":"TO_STACK","is_reply":false,"Summary":"TCP Flags: SYN"}}
"#;

const POSTGRES: &str = "dbms/postgres-18/app/networkpolicy.yaml";
const FOREIGN: &str = "downloads/bazarr/app/networkpolicy.yaml";
const KUSTOMIZATION: &str = "downloads/sonarr/app/kustomization.yaml";

fn recommend(root: &Path, inputs: &[&Path], extra: &[&str]) -> (bool, String, String) {
    let mut cmd = assert_cmd::Command::cargo_bin("flowpolicy").unwrap();
    cmd.arg("recommend")
        .args(inputs)
        .args(["--cidr-group", "10.0.0.0/8", "--layout", "gitops", "--root"])
        .arg(root)
        .args(extra);
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// Every file under `root`: content and modification time.
fn snapshot(root: &Path) -> BTreeMap<String, (String, SystemTime)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                let meta = std::fs::metadata(&p).unwrap();
                out.insert(
                    rel,
                    (
                        std::fs::read_to_string(&p).unwrap(),
                        meta.modified().unwrap(),
                    ),
                );
            }
        }
    }
    out
}

fn changed(
    a: &BTreeMap<String, (String, SystemTime)>,
    b: &BTreeMap<String, (String, SystemTime)>,
) -> Vec<String> {
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect()
}

/// The tree as a golden text: each file with the documents in it.
fn tree_text(files: &BTreeMap<String, (String, SystemTime)>) -> String {
    let mut out = String::new();
    for (path, (text, _)) in files {
        if path.ends_with("ROLLOUT.md") {
            out.push_str(&format!("{path}\n"));
            continue;
        }
        let docs: Vec<String> = serde_yaml::Deserializer::from_str(text)
            .map(|d| {
                let v: serde_json::Value = serde::Deserialize::deserialize(d).unwrap();
                format!(
                    "{} {}",
                    v["kind"].as_str().unwrap_or("?"),
                    v["metadata"]["name"].as_str().unwrap_or("?")
                )
            })
            .collect();
        out.push_str(&format!("{path}: {}\n", docs.join(", ")));
    }
    out
}

#[test]
fn gitops_tree_refreshes_without_churn_and_keeps_hand_edits() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("kubernetes/main/apps");
    // A file flowpolicy did not write, where it would write, and an app's
    // kustomization with other entries.
    std::fs::create_dir_all(root.join(FOREIGN).parent().unwrap()).unwrap();
    let foreign = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: mine\n";
    std::fs::write(root.join(FOREIGN), foreign).unwrap();
    std::fs::create_dir_all(root.join(KUSTOMIZATION).parent().unwrap()).unwrap();
    let kustomization = "---\n# yaml-language-server: $schema=https://json.schemastore.org/kustomization\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: downloads\nresources:\n  - ./helmrelease.yaml\n  # - ./ingress.yaml\n  - ./pvc.yaml\n\n# hand comment\nlabels:\n  - pairs:\n      app: sonarr\n";
    std::fs::write(root.join(KUSTOMIZATION), kustomization).unwrap();

    let (ok, _, err) = recommend(&root, &[&demo()], &[]);
    assert!(ok, "{err}");
    assert!(
        err.contains(&format!(
            "{}: not generated by flowpolicy",
            root.join(FOREIGN).display()
        )),
        "{err}"
    );
    assert!(err.contains("1 kustomizations edited"), "{err}");
    assert_eq!(
        std::fs::read_to_string(root.join(FOREIGN)).unwrap(),
        foreign
    );
    // One line added, every other byte kept.
    let edited = std::fs::read_to_string(root.join(KUSTOMIZATION)).unwrap();
    assert_eq!(
        edited,
        kustomization.replace(
            "  - ./pvc.yaml\n",
            "  - ./pvc.yaml\n  - ./networkpolicy.yaml\n"
        )
    );
    let k: serde_yaml::Value = serde_yaml::from_str(&edited).unwrap();
    assert_eq!(k["namespace"].as_str(), Some("downloads"));
    let res: Vec<&str> = k["resources"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        res,
        ["./helmrelease.yaml", "./pvc.yaml", "./networkpolicy.yaml"]
    );
    let first = snapshot(&root);
    let golden = format!(
        "{}\n# {KUSTOMIZATION}\n{}\n# {POSTGRES}\n{}",
        tree_text(&first),
        first[KUSTOMIZATION].0,
        first[POSTGRES].0
    );
    insta::assert_snapshot!("demo_gitops_tree", golden);

    // The same input again: nothing is written.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let (ok, _, err) = recommend(&root, &[&demo()], &[]);
    assert!(ok, "{err}");
    assert!(err.contains("; 0 files written"), "{err}");
    assert!(!err.contains("edited by hand"), "no false positives: {err}");
    assert_eq!(changed(&first, &snapshot(&root)), Vec::<String>::new());

    // A rule added by hand to a generated file.
    let path = root.join(POSTGRES);
    let mut doc: serde_json::Value =
        serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    doc["spec"]["egress"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "toCIDR": ["192.0.2.10/32"],
            "toPorts": [{"ports": [{"port": "9999", "protocol": "TCP"}]}]
        }));
    // …with a comment above it, and one at the top.
    let with_comments: String = serde_yaml::to_string(&doc)
        .unwrap()
        .lines()
        .map(|l| match l.trim_start().strip_prefix("- toCIDR:") {
            Some(_) => {
                let indent = &l[..l.len() - l.trim_start().len()];
                format!("{indent}# backup NAS, added by hand\n{l}\n")
            }
            None => format!("{l}\n"),
        })
        .collect();
    std::fs::write(&path, format!("# reviewed by ops\n{with_comments}")).unwrap();
    // Unchanged intent: the hand-edited file is left exactly as it is.
    let edited = snapshot(&root);
    let (ok, _, err) = recommend(&root, &[&demo()], &[]);
    assert!(ok, "{err}");
    assert_eq!(changed(&edited, &snapshot(&root)), Vec::<String>::new());
    assert_eq!(
        err.matches("edited by hand since it was generated").count(),
        1,
        "{err}"
    );
    assert!(err.contains("dbms/postgres-18: edited by hand"), "{err}");

    // A superset baseline: --dry-run shows the diff and writes nothing.
    let extra = tmp.path().join("extra.jsonpb");
    std::fs::write(&extra, EXTRA_FLOW).unwrap();
    let (ok, out, err) = recommend(&root, &[&demo(), &extra], &["--dry-run"]);
    assert!(ok, "{err}");
    assert_eq!(
        changed(&edited, &snapshot(&root)),
        Vec::<String>::new(),
        "dry run wrote"
    );
    assert!(out.contains(&format!("+++ {}", path.display())), "{out}");
    assert!(
        out.contains("# dbms/postgres-18: 1 added, 0 removed"),
        "{out}"
    );
    assert!(
        out.contains("#   + egress toEntities kube-apiserver 443/TCP"),
        "{out}"
    );
    assert!(err.contains("kept a rule added by hand"), "{err}");

    // …and for real: only the affected policies (the workload's and the
    // kube-apiserver foundation, which lists the ports seen) and the plan change.
    let (ok, _, err) = recommend(&root, &[&demo(), &extra], &[]);
    assert!(ok, "{err}");
    let after = snapshot(&root);
    assert_eq!(
        changed(&edited, &after),
        vec![
            POSTGRES.to_string(),
            "flowpolicy-foundation/ROLLOUT.md".to_string(),
            "flowpolicy-foundation/flowpolicy-foundation-kube-apiserver.yaml".to_string(),
        ],
        "{err}"
    );
    let text = &after[POSTGRES].0;
    assert!(
        text.contains("192.0.2.10/32"),
        "the hand-added rule survives:\n{text}"
    );
    assert!(text.contains("'443'"), "the new port is allowed:\n{text}");
    assert!(
        text.starts_with("# reviewed by ops\n"),
        "hand comments survive:\n{text}"
    );
    let below = text
        .lines()
        .skip_while(|l| l.trim() != "# backup NAS, added by hand")
        .nth(1)
        .unwrap_or_default();
    assert!(below.trim().starts_with("- toCIDR:"), "{text}");
    assert!(
        err.contains("dbms/postgres-18: kept a rule added by hand: egress"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(root.join(FOREIGN)).unwrap(),
        foreign
    );
}
