//! What a change-driven audit watches: the served resource of each kind Git
//! declares, found with one discovery request per group version (kube's
//! `discovery::pinned_group`), so `flotilla serve` reaches the API server
//! through this crate only.

use kube::Client;
use kube::discovery::ApiResource;
use std::collections::{BTreeMap, BTreeSet};

/// The resources serving `kinds`, keyed by `(group, version)`; kinds the
/// server does not serve in that version are left out.
pub async fn watched_resources(
    client: &Client,
    kinds: &BTreeMap<(String, String), BTreeSet<String>>,
) -> Result<Vec<ApiResource>, kube::Error> {
    let mut resources = Vec::new();
    for ((group, version), kinds) in kinds {
        let gv = kube::core::GroupVersion::gv(group, version);
        let found = kube::discovery::pinned_group(client, &gv).await?;
        resources.extend(
            found
                .versioned_resources(version)
                .into_iter()
                .map(|(ar, _)| ar)
                .filter(|ar| kinds.contains(&ar.kind)),
        );
    }
    Ok(resources)
}
