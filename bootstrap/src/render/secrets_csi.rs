//! The SecretProviderClass that mounts the ingress certificate from Azure
//! Key Vault through the Secrets Store CSI driver.
//!
//! aks authenticates with Azure workload identity (`clientID`, no pod
//! identity). aks-hybrid has no workload identity: the driver uses a
//! service principal whose credentials sit in a Kubernetes Secret created
//! out of band and referenced from the pod's CSI volume
//! (`nodePublishSecretRef`, see the Traefik overlay), so the class itself
//! carries no identity at all.

use std::collections::BTreeMap;

use flotilla_fleet::{Certificate, Cluster, KeyVaultIdentity};
use serde::Serialize;

use super::{KustomizeFile, Manifest, cluster_dir, meta, to_yaml};
use crate::crds::SecretProviderClass;
use crate::crds::secrets_store::{
    SecretProviderClassSecretObjects, SecretProviderClassSecretObjectsData, SecretProviderClassSpec,
};
use crate::tree::Tree;

/// Name of the SecretProviderClass (the Traefik volume refers to it).
pub(super) const SPC_NAME: &str = "ingress-tls";
/// The CSI driver's name.
pub(super) const CSI_DRIVER: &str = "secrets-store.csi.k8s.io";

/// File name of a certificate's private key, mounted beside the
/// certificate: `tls.crt` → `tls.key`, `app.pem` → `app.pem.key`.
pub(super) fn key_alias(cert_alias: &str) -> String {
    match cert_alias.strip_suffix(".crt") {
        Some(stem) => format!("{stem}.key"),
        None => format!("{cert_alias}.key"),
    }
}

/// `clusters/<name>/secrets/`.
pub(super) fn render_secret_provider_class(cluster: &Cluster, tree: &mut Tree) {
    let dir = format!("{}/secrets", cluster_dir(cluster));
    let comment = match cluster.secrets.identity {
        KeyVaultIdentity::WorkloadIdentity { .. } => {
            "Ingress certificate from Azure Key Vault, read with the Traefik service\n\
             account's Azure workload identity (clientID); pod identity is off."
        }
        KeyVaultIdentity::ServicePrincipal { .. } => {
            "Ingress certificate from Azure Key Vault. aks-hybrid has no workload\n\
             identity: the pod's CSI volume passes a service principal Secret\n\
             (nodePublishSecretRef, keys clientid/clientsecret, created out of band)."
        }
    };
    let mut m = Manifest::with_comment(comment);
    m.push(&secret_provider_class(cluster));
    m.write(tree, format!("{dir}/secret-provider-class.yaml"));
    KustomizeFile::new(["secret-provider-class.yaml".to_owned()]).write(tree, &dir);
}

fn secret_provider_class(cluster: &Cluster) -> SecretProviderClass {
    let secrets = &cluster.secrets;
    let mut parameters = BTreeMap::from([
        ("keyvaultName".to_owned(), secrets.keyvault_name.clone()),
        ("tenantID".to_owned(), secrets.tenant_id.clone()),
        (
            "objects".to_owned(),
            key_vault_objects(&secrets.certificates),
        ),
        ("usePodIdentity".to_owned(), "false".to_owned()),
    ]);
    if let KeyVaultIdentity::WorkloadIdentity { client_id } = &secrets.identity {
        parameters.insert("clientID".to_owned(), client_id.clone());
        parameters.insert("useVMManagedIdentity".to_owned(), "false".to_owned());
    }
    SecretProviderClass {
        metadata: meta(SPC_NAME, Some(&cluster.ingress.namespace)),
        spec: SecretProviderClassSpec {
            provider: Some("azure".to_owned()),
            parameters: Some(parameters),
            secret_objects: secrets
                .synced_secret
                .as_ref()
                .and_then(|name| synced_tls_secret(name, &secrets.certificates)),
        },
    }
}

/// One Key Vault object as the Azure provider's `objects` parameter lists it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct KeyVaultObject<'a> {
    object_name: &'a str,
    object_alias: String,
    object_type: &'static str,
}

#[derive(Serialize)]
struct ObjectArray {
    array: Vec<String>,
}

/// The `objects` parameter: a YAML string holding `array:` of YAML strings
/// (the provider's own format). Each certificate is listed twice: as `cert`
/// (the public chain) and as `secret` (the PEM with the private key).
fn key_vault_objects(certificates: &[Certificate]) -> String {
    let mut array = Vec::new();
    for cert in certificates {
        let as_cert = KeyVaultObject {
            object_name: &cert.object_name,
            object_alias: cert.alias.clone(),
            object_type: "cert",
        };
        let as_key = KeyVaultObject {
            object_name: &cert.object_name,
            object_alias: key_alias(&cert.alias),
            object_type: "secret",
        };
        array.push(to_yaml(&as_cert));
        array.push(to_yaml(&as_key));
    }
    to_yaml(&ObjectArray { array })
}

/// Sync the first certificate into a `kubernetes.io/tls` Secret (only
/// while a pod mounts the volume: that is how the driver works).
fn synced_tls_secret(
    name: &str,
    certificates: &[Certificate],
) -> Option<Vec<SecretProviderClassSecretObjects>> {
    let cert = certificates.first()?;
    let data = |object_name: String, key: &str| SecretProviderClassSecretObjectsData {
        object_name: Some(object_name),
        key: Some(key.to_owned()),
    };
    Some(vec![SecretProviderClassSecretObjects {
        secret_name: Some(name.to_owned()),
        r#type: Some("kubernetes.io/tls".to_owned()),
        data: Some(vec![
            data(cert.alias.clone(), "tls.crt"),
            data(key_alias(&cert.alias), "tls.key"),
        ]),
        ..SecretProviderClassSecretObjects::default()
    }])
}
