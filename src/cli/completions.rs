//! `flowpolicy completions SHELL` and `flowpolicy man`: shell completion
//! scripts and a roff man page, both generated from the clap definitions so
//! they never drift from the real flags.

use std::io::Write;

use anyhow::Result;
use clap::{Args, CommandFactory, ValueEnum};
use clap_complete::Shell as CompleteShell;

use super::Cli;

/// Shells completions are generated for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// Print a shell completion script on stdout.
#[derive(Debug, Args)]
#[command(after_help = "Install:\n  \
    flowpolicy completions bash > ~/.local/share/bash-completion/completions/flowpolicy\n  \
    flowpolicy completions zsh > \"${fpath[1]}/_flowpolicy\"\n  \
    flowpolicy completions fish > ~/.config/fish/completions/flowpolicy.fish")]
pub struct CompletionsArgs {
    /// The shell to generate the script for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Print the man page (roff) on stdout.
#[derive(Debug, Args)]
#[command(after_help = "Install:\n  flowpolicy man > /usr/local/share/man/man1/flowpolicy.1")]
pub struct ManArgs {}

/// The completion script for `shell`.
pub fn completion_script(shell: Shell) -> Vec<u8> {
    let shell = match shell {
        Shell::Bash => CompleteShell::Bash,
        Shell::Zsh => CompleteShell::Zsh,
        Shell::Fish => CompleteShell::Fish,
    };
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "flowpolicy", &mut out);
    out
}

/// The man page: the top-level page followed by one section per subcommand.
pub fn man_page() -> Result<Vec<u8>> {
    let cmd = Cli::command();
    let mut out = Vec::new();
    let man = clap_mangen::Man::new(cmd.clone());
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    man.render_subcommands_section(&mut out)?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("flowpolicy {}", sub.get_name());
        let page = clap_mangen::Man::new(sub.clone().bin_name(name.clone()));
        // Each subcommand continues the same page as a section of its own.
        writeln!(out, ".SH \"{}\"", name.to_ascii_uppercase())?;
        page.render_synopsis_section(&mut out)?;
        page.render_description_section(&mut out)?;
        page.render_options_section(&mut out)?;
        page.render_extra_section(&mut out)?;
    }
    man.render_extra_section(&mut out)?;
    man.render_version_section(&mut out)?;
    Ok(out)
}

pub fn run_completions(args: &CompletionsArgs) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(&completion_script(args.shell))?;
    out.flush()?;
    Ok(())
}

pub fn run_man(_args: &ManArgs) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(&man_page()?)?;
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completions_name_every_subcommand() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let s = String::from_utf8(completion_script(shell)).unwrap();
            for sub in ["recommend", "verify", "observe", "merge", "graph"] {
                assert!(s.contains(sub), "{shell:?} misses {sub}");
            }
        }
    }

    #[test]
    fn man_page_has_every_subcommand_and_its_flags() {
        let s = String::from_utf8(man_page().unwrap()).unwrap();
        assert!(s.starts_with(".ie") || s.contains(".TH"), "{}", &s[..200]);
        for sub in ["recommend", "verify", "observe", "merge", "graph"] {
            assert!(
                s.contains(&format!("FLOWPOLICY {}", sub.to_uppercase())),
                "{sub}"
            );
        }
        assert!(s.contains("cidr\\-group"), "flags are rendered");
    }
}
