//! The flotilla fleet model: read a fleet spec, apply defaults and overrides,
//! validate it, and hand the generator a [`Fleet`] it can render without
//! deciding anything.
//!
//! Data flows one way: YAML files → a spanned tree → the spec (a serde
//! mirror of the YAML, every value remembering where it was written) →
//! layers merged by precedence → [`model`] (resolved, validated). Reading the
//! spec files is this crate's only I/O.
//!
//! ```
//! let fleet = flotilla_fleet::load_str("fleet.yaml", r#"
//! defaults:
//!   git: { url: ssh://git@github.com/contoso/fleet-gitops }
//!   images: { registry: acraksbaseline01.azurecr.io }
//!   ingress: { domain: aks-ingress.contoso.com }
//!   secrets:
//!     keyvaultName: kv-aks-eus2-01
//!     tenantId: 6f1c2a7e-3b4d-4c5e-9f80-1a2b3c4d5e6f
//!     workloadIdentityClientId: 0e9d8c7b-6a5f-4e3d-8c2b-1a0f9e8d7c6b
//! clusters:
//!   - { name: aks-eus2-01, kind: aks, environment: production, region: eastus2 }
//! "#).unwrap();
//! assert_eq!(fleet.clusters[0].source.path, "./clusters/aks-eus2-01");
//! ```

mod decode;
mod defaults;
mod error;
mod formats;
mod load;
pub mod model;
mod ranges;
mod spec;
mod validate;
mod yaml;

pub use defaults::{KURED_TAG, TRAEFIK_TAG};
pub use error::{Diagnostic, Problem, SpecErrors};
pub use load::{MAX_FILE_BYTES, load, load_str};
pub use model::*;
