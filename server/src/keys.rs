//! `pynomaly keys create | import | list | revoke`: API keys for `pynomaly serve`, stored (hashed)
//! in the configured backend (`PYNOMALY_STORE`: the data dir, or S3).

use std::path::Path;

use anyhow::{Context, Result};
use pynomaly_service::auth::{create_key, import_key, list_keys, revoke_key};

#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Create a key for a tenant; prints the key (shown once) as the last token on stdout.
    Create {
        /// Tenant the key acts for (lowercase letters, digits, `-`, `_`).
        #[arg(long)]
        tenant: String,
    },
    /// Store a key made elsewhere (e.g. kept in a secrets manager) for a tenant.
    Import {
        /// Tenant the key acts for.
        #[arg(long)]
        tenant: String,
        /// The key, `pyn_<12 hex>_<secret>`.
        key: String,
    },
    /// List keys (ids, tenants, state; never the keys themselves).
    List,
    /// Revoke a key by id.
    Revoke {
        /// The key id (the part after `pyn_`).
        key_id: String,
    },
}

pub fn run(command: KeysCommand, data_dir: &Path) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let backend = pynomaly_service::backend::from_env(data_dir).await?;
        let store = backend.store.as_ref();
        match command {
            KeysCommand::Create { tenant } => {
                let (record, key) = create_key(store, &tenant).await?;
                eprintln!(
                    "created key {} for tenant `{}` (shown once; store it now)",
                    record.key_id, record.tenant
                );
                println!("{key}");
            }
            KeysCommand::Import { tenant, key } => {
                let record = import_key(store, &tenant, &key).await?;
                eprintln!(
                    "imported key {} for tenant `{}`",
                    record.key_id, record.tenant
                );
            }
            KeysCommand::List => {
                let keys = list_keys(store).await?;
                if keys.is_empty() {
                    eprintln!("no keys yet (create one with `pynomaly keys create --tenant NAME`)");
                }
                for k in keys {
                    println!(
                        "{}  {:<24} created {}  {}",
                        k.key_id,
                        k.tenant,
                        k.created_at,
                        if k.revoked { "revoked" } else { "active" }
                    );
                }
            }
            KeysCommand::Revoke { key_id } => {
                let record = revoke_key(store, &key_id).await?;
                eprintln!(
                    "revoked key {} of tenant `{}`",
                    record.key_id, record.tenant
                );
            }
        }
        Ok(())
    })
}
