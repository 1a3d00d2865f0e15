//! The two Cilium policy objects, `CiliumNetworkPolicy` (namespaced) and
//! `CiliumClusterwideNetworkPolicy`, both `cilium.io/v2` with a `spec` rule
//! and/or a `specs` list of rules.

use serde::{Deserialize, Serialize};

use super::meta::ObjectMeta;
use super::rule::Rule;

/// `apiVersion` of both Cilium policy kinds.
pub const CILIUM_API_VERSION: &str = "cilium.io/v2";
pub const CNP_KIND: &str = "CiliumNetworkPolicy";
pub const CCNP_KIND: &str = "CiliumClusterwideNetworkPolicy";

/// A namespaced `CiliumNetworkPolicy`. Selectors without a namespace label
/// are scoped to `metadata.namespace`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CiliumNetworkPolicy {
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<Rule>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub specs: Vec<Rule>,
}

/// A `CiliumClusterwideNetworkPolicy`: selectors apply across namespaces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CiliumClusterwideNetworkPolicy {
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<Rule>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub specs: Vec<Rule>,
}

impl CiliumNetworkPolicy {
    /// An empty policy with the right `apiVersion` and `kind`.
    pub fn new(name: impl Into<String>, namespace: impl Into<String>) -> Self {
        Self {
            api_version: CILIUM_API_VERSION.to_owned(),
            kind: CNP_KIND.to_owned(),
            metadata: ObjectMeta::new(name, Some(namespace.into())),
            spec: None,
            specs: Vec::new(),
        }
    }

    /// `spec` followed by `specs`.
    pub fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.spec.iter().chain(self.specs.iter())
    }
}

impl CiliumClusterwideNetworkPolicy {
    /// An empty policy with the right `apiVersion` and `kind`.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            api_version: CILIUM_API_VERSION.to_owned(),
            kind: CCNP_KIND.to_owned(),
            metadata: ObjectMeta::new(name, None),
            spec: None,
            specs: Vec::new(),
        }
    }

    /// `spec` followed by `specs`.
    pub fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.spec.iter().chain(self.specs.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{
        to_yaml, EgressRule, EndpointSelector, Entity, FqdnSelector, IngressRule, L7Rules,
        PortProtocol, PortRule, Protocol,
    };

    fn sample() -> CiliumNetworkPolicy {
        let mut p = CiliumNetworkPolicy::new("web", "shop");
        p.metadata.labels.insert("enabled".into(), "on".into());
        let mut rule = Rule::for_endpoints(EndpointSelector::from_labels([("app", "web")]));
        rule.ingress.push(IngressRule {
            from_endpoints: vec![EndpointSelector::all()],
            to_ports: vec![PortRule {
                ports: vec![PortProtocol::new(8080, Protocol::TCP)],
                ..PortRule::default()
            }],
            ..IngressRule::default()
        });
        rule.egress.push(EgressRule {
            to_endpoints: vec![EndpointSelector::from_labels([
                ("k8s:io.kubernetes.pod.namespace", "kube-system"),
                ("k8s:k8s-app", "kube-dns"),
            ])],
            to_ports: vec![PortRule {
                ports: vec![PortProtocol::new(53, Protocol::ANY)],
                rules: Some(L7Rules {
                    dns: vec![FqdnSelector::pattern("*")],
                    ..L7Rules::default()
                }),
                ..PortRule::default()
            }],
            ..EgressRule::default()
        });
        rule.egress.push(EgressRule {
            to_fqdns: vec![FqdnSelector::name("api.example.com")],
            to_cidr: vec!["10.0.0.5/32".into()],
            to_entities: vec![Entity::KubeApiserver],
            ..EgressRule::default()
        });
        p.spec = Some(rule);
        p
    }

    #[test]
    fn serializes_minimal_crd_yaml() {
        let yaml = to_yaml(&sample()).unwrap();
        let expected = "\
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  name: web
  namespace: shop
  labels:
    enabled: 'on'
spec:
  endpointSelector:
    matchLabels:
      app: web
  ingress:
  - fromEndpoints:
    - {}
    toPorts:
    - ports:
      - port: '8080'
        protocol: TCP
  egress:
  - toEndpoints:
    - matchLabels:
        k8s:io.kubernetes.pod.namespace: kube-system
        k8s:k8s-app: kube-dns
    toPorts:
    - ports:
      - port: '53'
        protocol: ANY
      rules:
        dns:
        - matchPattern: '*'
  - toCIDR:
    - '10.0.0.5/32'
    toEntities:
    - kube-apiserver
    toFQDNs:
    - matchName: api.example.com
";
        assert_eq!(yaml, expected);
        let back: CiliumNetworkPolicy = serde_yaml::from_str(&yaml).unwrap();
        assert_eq!(back, sample());
    }

    #[test]
    fn reads_real_world_variants() {
        let yaml = "
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: x, namespace: y, uid: abc}
spec:
  endpointSelector:
  ingress:
  - {}
  egress:
  - toPorts:
    - ports:
      - {port: 5432, protocol: tcp}
    icmps:
    - fields: [{type: 8, family: IPv4}, {type: EchoRequest}]
    toEntities: [world, encrypted-overlay]
  enableDefaultDeny: {egress: false}
";
        let p: CiliumNetworkPolicy = serde_yaml::from_str(yaml).unwrap();
        let rule = p.spec.as_ref().unwrap();
        assert_eq!(rule.endpoint_selector, None, "null selector is no selector");
        assert_eq!(rule.ingress, vec![IngressRule::default()]);
        let port = &rule.egress[0].to_ports[0].ports[0];
        assert_eq!(
            (port.port.as_str(), port.protocol),
            ("5432", Some(Protocol::TCP))
        );
        assert_eq!(
            rule.egress[0].to_entities[1],
            Entity::Other("encrypted-overlay".into())
        );
        assert!(rule.enforces_ingress() && !rule.enforces_egress());
        let out = to_yaml(&p).unwrap();
        assert!(out.contains("  ingress:\n  - {}\n"), "{out}");
        assert!(out.contains("port: '5432'"), "{out}");
        assert!(
            out.contains("  type: 8\n") && out.contains("type: EchoRequest"),
            "{out}"
        );
        assert!(!out.contains("uid"), "{out}");
    }

    #[test]
    fn ccnp_with_specs_and_empty_selector() {
        let mut p = CiliumClusterwideNetworkPolicy::new("foundation");
        p.specs.push(Rule::for_endpoints(EndpointSelector::all()));
        p.specs[0].egress.push(EgressRule::default());
        let yaml = to_yaml(&p).unwrap();
        assert_eq!(
            yaml,
            "apiVersion: cilium.io/v2\nkind: CiliumClusterwideNetworkPolicy\nmetadata:\n  name: foundation\nspecs:\n- endpointSelector: {}\n  egress:\n  - {}\n"
        );
        assert_eq!(p.rules().count(), 1);
    }
}
