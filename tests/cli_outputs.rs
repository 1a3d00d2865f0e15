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
