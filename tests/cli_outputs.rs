//! The binary's generated helpers: shell completions and the man page are
//! produced from the clap definitions and mention every subcommand.

fn flowpolicy() -> assert_cmd::Command {
    assert_cmd::Command::cargo_bin("flowpolicy").unwrap()
}

#[test]
fn completions_for_each_shell_mention_the_subcommands() {
    for shell in ["bash", "zsh", "fish"] {
        let out = flowpolicy().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.len() > 1000, "{shell}: {} bytes", text.len());
        for sub in ["recommend", "verify", "observe", "merge", "graph", "man"] {
            assert!(text.contains(sub), "{shell} completion lacks {sub}");
        }
    }
    flowpolicy()
        .args(["completions", "powershell"])
        .assert()
        .code(2);
}

#[test]
fn man_page_is_roff_with_every_subcommand() {
    let out = flowpolicy().arg("man").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(".TH flowpolicy"), "{}", &text[..300]);
    for sub in ["RECOMMEND", "VERIFY", "OBSERVE", "MERGE", "GRAPH"] {
        assert!(text.contains(&format!(".SH \"FLOWPOLICY {sub}\"")), "{sub}");
    }
}

fn demo() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo.jsonpb.zst")
}

/// The `flowpolicy verify …` lines of a rollout plan.
fn verify_commands(plan: &str) -> Vec<String> {
    plan.lines()
        .filter(|l| l.starts_with("flowpolicy verify "))
        .map(str::to_owned)
        .collect()
}

#[test]
fn order_puts_the_users_namespaces_first_and_every_step_has_a_working_verify_command() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("policies");
    flowpolicy()
        .arg("recommend")
        .arg(demo())
        .args(["--cidr-group", "10.0.0.0/8", "--out"])
        .arg(&out)
        .args([
            "--order",
            "external-secrets,dbms",
            "--order",
            "nope,flux-system",
        ])
        .assert()
        .success()
        .stderr(predicates::str::contains(
            "--order names namespaces without policies (not in the plan): nope",
        ));
    let plan = std::fs::read_to_string(out.join("ROLLOUT.md")).unwrap();
    let steps: Vec<&str> = plan
        .lines()
        .filter_map(|l| l.strip_prefix("### Step "))
        .collect();
    assert_eq!(
        &steps[..3],
        &["1: external-secrets", "2: dbms", "3: flux-system"],
        "{plan}"
    );
    let commands = verify_commands(&plan);
    // The foundation, then one per namespace step.
    assert_eq!(commands.len(), steps.len() + 1, "{plan}");
    assert!(commands[2].starts_with("flowpolicy verify -p cluster/ -p dbms/ "));
    // The commands run as written from the output directory and pass
    // (the foundation, the first ordered step, and the last step).
    let bin = assert_cmd::cargo::cargo_bin("flowpolicy");
    for cmd in [&commands[0], &commands[1], commands.last().unwrap()] {
        let args = cmd.strip_prefix("flowpolicy ").unwrap();
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("'{}' {args}", bin.display()))
            .env("FLOWS", demo())
            .current_dir(&out)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "{cmd}: {status}");
    }
}

#[test]
fn k8s_format_in_the_flat_layout_lists_what_it_cannot_express_and_refreshes_in_place() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("netpol");
    let run = |extra: &[&str]| {
        flowpolicy()
            .arg("recommend")
            .arg(demo())
            .args([
                "--cidr-group",
                "10.0.0.0/8",
                "--format",
                "k8s",
                "--layout",
                "flat",
                "--out",
            ])
            .arg(&out)
            .args(extra)
            .output()
            .unwrap()
    };
    let first = run(&[]);
    let err = String::from_utf8_lossy(&first.stderr);
    assert!(first.status.success(), "{err}");
    assert!(
        err.contains("95 NetworkPolicy (109 observed peer/port sets not expressible)"),
        "{err}"
    );
    assert!(
        err.contains("not expressible: dbms/postgres-18 egress entity:kube-apiserver (6443/TCP)"),
        "{err}"
    );
    let text = std::fs::read_to_string(out.join("dbms_postgres-18.yaml")).unwrap();
    assert!(
        text.starts_with("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"),
        "{text}"
    );
    let plan = std::fs::read_to_string(out.join("ROLLOUT.md")).unwrap();
    assert!(plan.contains("## Not expressible"), "{plan}");
    assert!(plan.contains(
        "No foundation policies were generated: no foundation: NetworkPolicy cannot allow"
    ));
    assert!(
        plan.contains("kubectl apply -f dbms_cloudnative-pg.yaml -f dbms_dragonfly"),
        "{plan}"
    );
    // Again: nothing changes, nothing is written; --dry-run prints no diff.
    let before = std::fs::metadata(out.join("dbms_postgres-18.yaml"))
        .unwrap()
        .modified()
        .unwrap();
    let again = run(&["--dry-run"]);
    assert!(again.status.success());
    assert!(
        again.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
    let again = run(&[]);
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("; 0 files written"), "{err}");
    let after = std::fs::metadata(out.join("dbms_postgres-18.yaml"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(before, after);
    // Gitops without --root, and a template leaving the root, are refused up front.
    flowpolicy()
        .arg("recommend")
        .arg(demo())
        .args(["--layout", "gitops"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "--layout gitops needs --root DIR",
        ));
    flowpolicy()
        .arg("recommend")
        .arg(demo())
        .args([
            "--layout",
            "gitops",
            "--root",
            "x",
            "--app-template",
            "../{app}",
        ])
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "must be a relative path inside --root",
        ));
}
