//! The flags of `recommend`, turned once into the options of the stages:
//! [`SynthConfig`], [`PlanOptions`] and [`WriteOptions`].

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::{Args, ValueEnum};

use crate::cli::inputs::InputArgs;
use crate::render::guard;
use crate::render::output::{self, Layout, DEFAULT_APP_TEMPLATE};
use crate::render::plan::PlanOptions;
use crate::render::write::WriteOptions;
use crate::synth::{self, SynthConfig};

/// Output format of `recommend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PolicyFormat {
    /// CiliumNetworkPolicy per workload + foundation CiliumClusterwideNetworkPolicies.
    Cilium,
    /// Kubernetes NetworkPolicy per workload, for what NetworkPolicy can express.
    K8s,
}

/// L7 rule families `--l7` can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum L7Kind {
    /// HTTP/gRPC rules (method, templated path, host) on ports where L7 request records were seen.
    Http,
    /// DNS rules listing the names each workload queried instead of `matchPattern: "*"`.
    Dns,
}

/// How `--out`/`--root` is organised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LayoutArg {
    /// `cluster/<name>.yaml`, `<namespace>/<name>.yaml`.
    Namespace,
    /// Every file in one directory: `cluster_<name>.yaml`, `<namespace>_<name>.yaml`.
    Flat,
    /// Beside each app in a GitOps tree: `<root>/<namespace>/<app>/app/networkpolicy.yaml`.
    Gitops,
}

/// Generate least-privilege Cilium policies from observed flows.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    hubble observe --all -o jsonpb > flows.jsonpb\n  \
    flowpolicy recommend flows.jsonpb --out policies/\n  \
    flowpolicy recommend day1.jsonpb.gz day2.jsonpb.zst --cidr-group 10.0.0.0/8 > policies.yaml\n  \
    flowpolicy recommend week.baseline --layout gitops --root kubernetes/main/apps --dry-run\n  \
    flowpolicy recommend flows.jsonpb --format k8s --out netpol/\n\n\
Every observed workload gets a CiliumNetworkPolicy that allows exactly what it did and denies\n\
everything else; foundation CiliumClusterwideNetworkPolicies (DNS to the detected resolver,\n\
kube-apiserver) only add allows and never switch pods into default-deny.\n\n\
Re-running into an existing directory refreshes it: only policies whose allowed set changed\n\
are rewritten, rules added by hand are kept and reported, files flowpolicy did not write are\n\
never overwritten.")]
pub struct RecommendArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Write one file per policy under this directory, plus a ROLLOUT.md plan, instead of
    /// stdout. An existing directory is refreshed (see --dry-run), or replaced with --force.
    #[arg(long, short, value_name = "DIR", conflicts_with = "root")]
    pub out: Option<PathBuf>,
    /// Replace an existing --out directory instead of refreshing it.
    #[arg(long)]
    pub force: bool,
    /// Policy format: Cilium policies, or Kubernetes NetworkPolicy (what it cannot express is
    /// listed, never widened).
    #[arg(long, value_enum, default_value_t = PolicyFormat::Cilium)]
    pub format: PolicyFormat,
    /// Directory layout of --out (namespace, flat) or of a GitOps tree (gitops, with --root).
    #[arg(long, value_enum, default_value_t = LayoutArg::Namespace)]
    pub layout: LayoutArg,
    /// The GitOps apps directory to write into (`--layout gitops`), e.g. kubernetes/main/apps:
    /// each workload's policies go beside its app; the foundation and ROLLOUT.md go to
    /// flowpolicy-foundation/.
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Where an app's policies go under --root: `{namespace}`, `{app}` (app.kubernetes.io/name,
    /// else app.kubernetes.io/instance, else the workload name) and `{name}` (the policy's).
    #[arg(long, value_name = "TEMPLATE", default_value = DEFAULT_APP_TEMPLATE)]
    pub app_template: String,
    /// Print a unified diff per file and the allowed peers/ports added and removed per policy,
    /// and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Also allow traffic that Cilium DROPPED while observing.
    #[arg(long)]
    pub include_dropped: bool,
    /// Collapse N or more sibling DNS names (a.example.com, b.example.com, …) into `*.example.com`.
    #[arg(long, value_name = "N")]
    pub fqdn_collapse: Option<usize>,
    /// Do not emit the foundation CiliumClusterwideNetworkPolicies.
    #[arg(long)]
    pub no_foundation: bool,
    /// Let every endpoint reach the kube-apiserver (default: only the workloads seen using it).
    #[arg(long)]
    pub apiserver_cluster_wide: bool,
    /// Also allow all traffic inside each namespace (one namespaced policy per namespace).
    #[arg(long)]
    pub same_namespace: bool,
    /// One policy per workload instance: do not merge the instances of one role (Rook OSDs
    /// and mons, StatefulSet ordinals, per-instance or per-node Deployments) into one policy
    /// whose selector matches every instance (docs/synthesis.md, "Roles, not instances").
    #[arg(long, visible_alias = "no-roles")]
    pub per_instance: bool,
    /// Only generate per-workload policies for these namespaces (comma-separated or repeated);
    /// a name no observed workload has is refused, with the namespaces seen.
    #[arg(
        long = "namespace",
        short = 'n',
        value_name = "NS,NS,…",
        value_delimiter = ','
    )]
    pub namespaces: Vec<String>,
    /// Write L7 rules from L7 records (comma-separated or repeated): `http` (requests, with
    /// IDs/UUIDs/hashes templated, on the ports and from the peers where they were seen) and
    /// `dns` (the names each workload queried). Without it the policies are L4 only.
    #[arg(long, value_enum, value_name = "http,dns", value_delimiter = ',')]
    pub l7: Vec<L7Kind>,
    /// With `--l7 http`: N or more sibling path segments (same method, host and other segments)
    /// collapse into one single-segment pattern; 0 never collapses.
    #[arg(long, value_name = "N", default_value_t = synth::l7::http::DEFAULT_COLLAPSE)]
    pub l7_collapse: usize,
    /// Roll these namespaces out first, in this order, in ROLLOUT.md (comma-separated or
    /// repeated), e.g. `--order external-secrets,dbms,actions-runner-system,flux-system`;
    /// the rest follow, fewest dependents first.
    #[arg(long, value_name = "NS,NS,…", value_delimiter = ',')]
    pub order: Vec<String>,
    /// Accept inputs without a single flow (by default an empty capture is refused: it would
    /// write policies for nothing).
    #[arg(long)]
    pub allow_empty: bool,
    /// `--layout gitops`: the rollout steps of ROLLOUT.md that enforce, 1 to N (default: the
    /// stage the tree is at, 1 for a new one). Every policy is applied by Flux from the first pull
    /// request; the later namespaces' policies carry enableDefaultDeny off until a re-run with a
    /// higher --stage. A re-run without --stage never turns enforcement off.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub stage: Option<u16>,
    /// `--layout gitops` in a Flux repository: write the policies of workloads that no app of
    /// the repository deploys (gone since the capture, no match) into this directory under
    /// --root, with a new Flux Kustomization that applies it, instead of only listing them.
    #[arg(long, value_name = "DIR")]
    pub unplaced_into: Option<PathBuf>,
}

impl RecommendArgs {
    pub fn synth_config(&self) -> SynthConfig {
        SynthConfig {
            include_dropped: self.include_dropped,
            fqdn_collapse: self.fqdn_collapse,
            foundation: !self.no_foundation,
            apiserver_cluster_wide: self.apiserver_cluster_wide,
            same_namespace: self.same_namespace,
            namespaces: self.namespaces.iter().cloned().collect::<BTreeSet<_>>(),
            cidr_groups: self.input.cidr_groups.clone(),
            per_instance: self.per_instance,
            l7: synth::l7::L7Config {
                http: self.l7.contains(&L7Kind::Http),
                dns: self.l7.contains(&L7Kind::Dns),
                collapse: (self.l7_collapse > 0).then_some(self.l7_collapse),
            },
        }
    }

    /// The rollout plan's options.
    pub fn plan_options(&self) -> PlanOptions {
        PlanOptions {
            order: self.order.clone(),
            ..PlanOptions::default()
        }
    }

    /// Where and how to write, from the flags (checked before any input is
    /// read); `None` for stdout.
    pub fn write_options(&self) -> Result<Option<WriteOptions>> {
        let args = self;
        let layout = match args.layout {
            LayoutArg::Namespace => Layout::Namespace,
            LayoutArg::Flat => Layout::Flat,
            LayoutArg::Gitops => {
                if let Err(e) = output::check_app_template(&args.app_template) {
                    bail!(e);
                }
                Layout::Gitops {
                    app_template: args.app_template.clone(),
                }
            }
        };
        let root = match (&layout, &args.out, &args.root) {
            (Layout::Gitops { .. }, _, Some(root)) => root.clone(),
            (Layout::Gitops { .. }, _, None) => {
                bail!(
                    "--layout gitops needs --root DIR (the apps directory, e.g. kubernetes/main/apps)"
                )
            }
            (_, _, Some(_)) => {
                bail!("--root is for --layout gitops; use --out DIR for the other layouts")
            }
            (_, Some(out), None) => out.clone(),
            (_, None, None) => {
                if args.dry_run || args.force {
                    bail!("--dry-run and --force need --out DIR or --root DIR");
                }
                return Ok(None);
            }
        };
        if args.force && matches!(layout, Layout::Gitops { .. }) {
            bail!("--force would replace the whole --root tree; a gitops tree is always refreshed in place");
        }
        if matches!(layout, Layout::Gitops { .. }) {
            guard::check_root_exists(&root)?;
        } else if args.stage.is_some() {
            bail!("--stage is for --layout gitops (a rollout in git); with --out, ROLLOUT.md applies namespace by namespace");
        }
        if let Some(dir) = &args.unplaced_into {
            if !matches!(layout, Layout::Gitops { .. }) {
                bail!("--unplaced-into is for --layout gitops (a directory under --root)");
            }
            let bad = dir.is_absolute()
                || dir
                    .components()
                    .any(|c| !matches!(c, std::path::Component::Normal(_)));
            if bad || dir.as_os_str().is_empty() {
                bail!(
                    "--unplaced-into {}: a relative directory under --root without `.` or `..` parts, e.g. flowpolicy-unplaced",
                    dir.display()
                );
            }
        }
        guard::check_not_input(&root, &args.input.inputs, args.force)?;
        if args.force && !args.dry_run {
            guard::check_force(&root)?;
        }
        Ok(Some(WriteOptions {
            root,
            layout,
            force: args.force,
            dry_run: args.dry_run,
            namespaces: args.namespaces.iter().cloned().collect(),
            stage: args.stage.map(usize::from),
            unplaced_into: args.unplaced_into.clone(),
        }))
    }
}
