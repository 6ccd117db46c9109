//! API keys. A key is `pyn_<key id>_<secret>`; only its SHA-256 is stored, under
//! `auth/keys/<key id>.json` in the object store, with the tenant it belongs to. Every
//! model, job and result is scoped to that tenant.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::storage::{ObjectStore, StoreError};

/// Errors of key management.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The tenant name is not acceptable.
    #[error("invalid tenant `{0}`: use 1-64 lowercase letters, digits, `-` or `_`")]
    InvalidTenant(String),
    /// No key with that id.
    #[error("no API key `{0}`")]
    UnknownKey(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored record is unreadable.
    #[error("stored key record is corrupt: {0}")]
    Corrupt(String),
}

/// What is stored for a key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// Public id (part of the key).
    pub key_id: String,
    /// Tenant the key acts for.
    pub tenant: String,
    /// SHA-256 of the whole key, hex.
    pub sha256: String,
    /// Creation time, seconds since the Unix epoch.
    pub created_at: u64,
    /// Revoked keys no longer authenticate.
    pub revoked: bool,
}

fn hex_sha256(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn record_key(key_id: &str) -> String {
    format!("auth/keys/{key_id}.json")
}

/// Checks a tenant name.
pub fn validate_tenant(tenant: &str) -> Result<(), AuthError> {
    let ok = (1..=64).contains(&tenant.len())
        && tenant
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(AuthError::InvalidTenant(tenant.to_string()))
    }
}

/// Creates a key for `tenant`; returns the record and the key (shown once, never stored).
pub async fn create_key(
    store: &dyn ObjectStore,
    tenant: &str,
) -> Result<(KeyRecord, String), AuthError> {
    validate_tenant(tenant)?;
    let key_id = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
    let secret = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let key = format!("pyn_{key_id}_{secret}");
    let record = store_record(store, tenant, key_id, &key).await?;
    Ok((record, key))
}

/// Stores the hash of `key` (whose public id is `key_id`) for `tenant`.
async fn store_record(
    store: &dyn ObjectStore,
    tenant: &str,
    key_id: String,
    key: &str,
) -> Result<KeyRecord, AuthError> {
    let record = KeyRecord {
        key_id,
        tenant: tenant.to_string(),
        sha256: hex_sha256(key),
        created_at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        revoked: false,
    };
    let bytes = serde_json::to_vec(&record).map_err(|e| AuthError::Corrupt(e.to_string()))?;
    store.put(&record_key(&record.key_id), bytes).await?;
    Ok(record)
}

/// Stores a key made elsewhere (e.g. kept in a secrets manager, or fixed for a test
/// environment) for `tenant`. It must have the shape of a created key:
/// `pyn_<12 hex>_<at least 32 characters>`.
pub async fn import_key(
    store: &dyn ObjectStore,
    tenant: &str,
    key: &str,
) -> Result<KeyRecord, AuthError> {
    validate_tenant(tenant)?;
    let key_id = key
        .strip_prefix("pyn_")
        .and_then(|rest| rest.split_once('_'))
        .filter(|(id, secret)| {
            id.len() == 12
                && id.chars().all(|c| c.is_ascii_hexdigit())
                && secret.len() >= 32
                && secret.chars().all(|c| c.is_ascii_alphanumeric())
        })
        .map(|(id, _)| id.to_string())
        .ok_or_else(|| AuthError::UnknownKey("not a pyn_<12 hex>_<secret> key".into()))?;
    store_record(store, tenant, key_id, key).await
}

async fn load(store: &dyn ObjectStore, key_id: &str) -> Result<KeyRecord, AuthError> {
    let bytes = store.get(&record_key(key_id)).await.map_err(|e| match e {
        StoreError::NotFound(_) | StoreError::InvalidKey(_) => {
            AuthError::UnknownKey(key_id.to_string())
        }
        other => other.into(),
    })?;
    serde_json::from_slice(&bytes).map_err(|e| AuthError::Corrupt(e.to_string()))
}

/// The tenant a presented key acts for, or `None` if the key is unknown, wrong or revoked.
pub async fn authenticate(store: &dyn ObjectStore, key: &str) -> Result<Option<String>, AuthError> {
    let Some(rest) = key.strip_prefix("pyn_") else {
        return Ok(None);
    };
    let Some((key_id, _)) = rest.split_once('_') else {
        return Ok(None);
    };
    if key_id.len() != 12 || !key_id.chars().all(|c| c.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let record = match load(store, key_id).await {
        Ok(r) => r,
        Err(AuthError::UnknownKey(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    // Compare digests without an early exit on the first differing byte.
    let presented = hex_sha256(key);
    let same = presented.len() == record.sha256.len()
        && presented
            .bytes()
            .zip(record.sha256.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    Ok((same && !record.revoked).then_some(record.tenant))
}

/// Every key record.
pub async fn list_keys(store: &dyn ObjectStore) -> Result<Vec<KeyRecord>, AuthError> {
    let mut out = Vec::new();
    for key in store.list("auth/keys/").await? {
        let bytes = store.get(&key).await?;
        out.push(serde_json::from_slice(&bytes).map_err(|e| AuthError::Corrupt(e.to_string()))?);
    }
    Ok(out)
}

/// Revokes a key by id.
pub async fn revoke_key(store: &dyn ObjectStore, key_id: &str) -> Result<KeyRecord, AuthError> {
    let mut record = load(store, key_id).await?;
    record.revoked = true;
    let bytes = serde_json::to_vec(&record).map_err(|e| AuthError::Corrupt(e.to_string()))?;
    store.put(&record_key(key_id), bytes).await?;
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::LocalObjectStore;

    #[tokio::test]
    async fn create_authenticate_revoke() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalObjectStore::new(dir.path());
        let (record, key) = create_key(&store, "acme").await.unwrap();
        assert!(key.starts_with("pyn_"));
        // Only the digest is stored.
        let stored =
            std::fs::read_to_string(dir.path().join(format!("auth/keys/{}.json", record.key_id)))
                .unwrap();
        assert!(!stored.contains(&key[17..]));
        assert_eq!(
            authenticate(&store, &key).await.unwrap().as_deref(),
            Some("acme")
        );
        let mut wrong = key.clone();
        wrong.pop();
        wrong.push('x');
        assert_eq!(authenticate(&store, &wrong).await.unwrap(), None);
        assert_eq!(
            authenticate(&store, "pyn_000000000000_abc").await.unwrap(),
            None
        );
        assert_eq!(authenticate(&store, "Bearer nonsense").await.unwrap(), None);
        revoke_key(&store, &record.key_id).await.unwrap();
        assert_eq!(authenticate(&store, &key).await.unwrap(), None);
        assert_eq!(list_keys(&store).await.unwrap().len(), 1);
        assert!(create_key(&store, "Bad Tenant").await.is_err());
    }
}
