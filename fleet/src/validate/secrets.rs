//! `secrets`: Azure Key Vault through the Secrets Store CSI driver.

use std::collections::HashMap;

use crate::decode::OriginId;
use crate::error::Problem;
use crate::formats;
use crate::model::*;
use crate::spec::*;

use super::check::Check;

impl Check<'_> {
    /// The Key Vault, tenant and identity are required only when the
    /// SecretProviderClass is generated (`enabled`, the default).
    pub(super) fn secrets(&self, kind: ClusterKind, val: &Val<SecretsSpec>) -> Secrets {
        let s = val.get().cloned().unwrap_or_default();
        let on = self.flag(&s.enabled, true);
        let required = |v: &Val<String>, field: &str, format| {
            self.text(v, field, format, on).unwrap_or_default()
        };
        Secrets {
            enabled: on,
            keyvault_name: required(
                &s.keyvault_name,
                "secrets.keyvaultName",
                &formats::KEYVAULT_NAME,
            ),
            tenant_id: required(&s.tenant_id, "secrets.tenantId", &formats::UUID),
            identity: self.key_vault_identity(kind, &s, on),
            certificates: self.certificates(&s.certificates, on),
            synced_secret: self.text(
                &s.synced_secret,
                "secrets.syncedSecret",
                &formats::SECRET_NAME,
                false,
            ),
        }
    }

    /// Workload identity on aks; on aks-hybrid, which has no Azure AD
    /// workload identity federation, a service principal Secret.
    fn key_vault_identity(&self, kind: ClusterKind, s: &SecretsSpec, on: bool) -> KeyVaultIdentity {
        let (client_id, sp_secret) = (
            (
                &s.workload_identity_client_id,
                "secrets.workloadIdentityClientId",
            ),
            (
                &s.service_principal_secret,
                "secrets.servicePrincipalSecret",
            ),
        );
        match kind {
            ClusterKind::Aks => {
                let wrong =
                    Problem::HybridOnly("service principal secret (use workloadIdentityClientId)");
                self.forbid(sp_secret.0, sp_secret.1, wrong);
                KeyVaultIdentity::WorkloadIdentity {
                    client_id: self
                        .text(client_id.0, client_id.1, &formats::UUID, on)
                        .unwrap_or_default(),
                }
            }
            ClusterKind::AksHybrid => {
                let wrong = Problem::AzureOnly("workload identity (use servicePrincipalSecret)");
                self.forbid(client_id.0, client_id.1, wrong);
                KeyVaultIdentity::ServicePrincipal {
                    secret_name: self
                        .text(sp_secret.0, sp_secret.1, &formats::SECRET_NAME, on)
                        .unwrap_or_default(),
                }
            }
        }
    }

    /// At least one certificate (Traefik serves TLS only), each mounted
    /// under its own file name (`alias`, default `tls.crt`).
    fn certificates(&self, val: &Val<Vec<CertificateSpec>>, on: bool) -> Vec<Certificate> {
        let field = "secrets.certificates";
        if on
            && let Val::Set(list, origin) = val
            && list.is_empty()
        {
            let problem =
                Problem::Rule("at least one certificate is needed for Traefik's TLS".into());
            self.report(*origin, field, problem);
        }
        let mut aliases: HashMap<String, usize> = HashMap::new();
        let mut out = Vec::new();
        for (i, c) in val.get().into_iter().flatten().enumerate() {
            let object_field = format!("{field}[{i}].objectName");
            let object_name = self.text(
                &c.object_name,
                &object_field,
                &formats::KEYVAULT_OBJECT,
                true,
            );
            let alias_field = format!("{field}[{i}].alias");
            let alias = match &c.alias {
                Val::Absent => Some("tls.crt".to_owned()),
                other => self.text(other, &alias_field, &formats::FILE_NAME, false),
            };
            let (Some(object_name), Some(alias)) = (object_name, alias) else {
                continue;
            };
            if let Some(first) = aliases.insert(alias.clone(), i) {
                let origin = origin_of(&c.alias);
                self.report(origin, &alias_field, Problem::Rule(format!(
                    "alias {alias} is already used by {field}[{first}]; each certificate needs its own file name"
                )));
            }
            out.push(Certificate { object_name, alias });
        }
        out
    }
}

fn origin_of<T>(val: &Val<T>) -> OriginId {
    match val {
        Val::Set(_, o) => *o,
        _ => OriginId::BUILTIN,
    }
}
