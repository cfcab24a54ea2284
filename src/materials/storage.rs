//! The object store of uploaded files: a local directory by default, or any S3-compatible
//! service when `STUDIUM_STORAGE_URL` is `s3://bucket[/prefix]`, both through `object_store`.
//!
//! Keys are generated (`materials/<user_id>/<uuid>`), never taken from the user's file name,
//! so a name cannot reach outside the store or overwrite another file.

use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};
use uuid::Uuid;

use crate::config::Config;

/// Size of the parts a multipart upload sends (S3's least part size is 5 MiB).
const PART_BYTES: usize = 5 * 1024 * 1024;
/// Parts of one upload in flight at once: the most memory an upload holds is about this many
/// parts.
const PARTS_IN_FLIGHT: usize = 2;

/// The configured object store.
#[derive(Clone)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    /// Where the store is, for logs: the directory or `s3://bucket/prefix`.
    location: String,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("location", &self.location)
            .finish()
    }
}

impl Storage {
    /// The store `STUDIUM_STORAGE_URL` names; a local directory is created if missing.
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        let url = config.storage_url.as_str();
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = match rest.split_once('/') {
                Some((bucket, prefix)) => (bucket, prefix.trim_matches('/')),
                None => (rest, ""),
            };
            let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
            if let Some(endpoint) = &config.s3_endpoint {
                builder = builder
                    .with_endpoint(endpoint)
                    .with_allow_http(endpoint.starts_with("http://"))
                    // Self-hosted services (MinIO, moto, Ceph) address buckets by path.
                    .with_virtual_hosted_style_request(false);
            }
            if let Some(region) = &config.s3_region {
                builder = builder.with_region(region);
            }
            if let Some(key) = &config.s3_access_key_id {
                builder = builder.with_access_key_id(key);
            }
            if let Some(secret) = &config.s3_secret_access_key {
                builder = builder.with_secret_access_key(secret);
            }
            let s3 = builder
                .build()
                .context("setting up S3 storage (STUDIUM_STORAGE_URL, STUDIUM_S3_*)")?;
            let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
                Arc::new(s3)
            } else {
                Arc::new(PrefixStore::new(s3, prefix))
            };
            return Ok(Self {
                store,
                location: url.to_string(),
            });
        }
        std::fs::create_dir_all(url).with_context(|| {
            format!("cannot create the upload directory {url:?} (STUDIUM_STORAGE_URL)")
        })?;
        let local = LocalFileSystem::new_with_prefix(url)
            .with_context(|| format!("cannot use the upload directory {url:?}"))?
            .with_automatic_cleanup(true);
        Ok(Self {
            store: Arc::new(local),
            location: url.to_string(),
        })
    }

    pub fn location(&self) -> &str {
        &self.location
    }

    /// A fresh key for a file of `user_id`.
    pub fn new_key(user_id: Uuid) -> String {
        format!("materials/{user_id}/{}", Uuid::now_v7())
    }

    /// Starts writing the object at `key`; nothing is visible at `key` until
    /// [`Upload::finish`].
    pub async fn start_upload(&self, key: &str) -> anyhow::Result<Upload> {
        let upload = self
            .store
            .put_multipart(&Path::from(key))
            .await
            .with_context(|| format!("starting an upload to {}", self.location))?;
        Ok(Upload {
            writer: WriteMultipart::new_with_chunk_size(upload, PART_BYTES),
        })
    }

    /// The object's bytes as a stream.
    pub async fn stream(
        &self,
        key: &str,
    ) -> anyhow::Result<BoxStream<'static, Result<Bytes, object_store::Error>>> {
        let result = self
            .store
            .get(&Path::from(key))
            .await
            .with_context(|| format!("reading {key} from {}", self.location))?;
        Ok(result.into_stream())
    }

    /// The whole object; more than `max_bytes` is an error.
    pub async fn read(&self, key: &str, max_bytes: u64) -> anyhow::Result<Vec<u8>> {
        let mut stream = self.stream(key).await?;
        let mut data = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.with_context(|| format!("reading {key}"))?;
            if (data.len() + chunk.len()) as u64 > max_bytes {
                anyhow::bail!("{key} is larger than {max_bytes} bytes");
            }
            data.extend_from_slice(&chunk);
        }
        Ok(data)
    }

    /// Deletes the object; one that is already gone is no error.
    pub async fn delete(&self, key: &str) -> anyhow::Result<()> {
        match self.store.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(anyhow::Error::new(e).context(format!("deleting {key}"))),
        }
    }

    /// Deletes every object of `user_id` (their account is being deleted).
    pub async fn delete_user(&self, user_id: Uuid) -> anyhow::Result<u64> {
        let prefix = Path::from(format!("materials/{user_id}"));
        let mut listing = self.store.list(Some(&prefix));
        let mut deleted = 0;
        while let Some(meta) = listing.next().await {
            let meta = match meta {
                Ok(meta) => meta,
                Err(object_store::Error::NotFound { .. }) => break,
                Err(e) => return Err(anyhow::Error::new(e).context("listing a user's files")),
            };
            self.delete(meta.location.as_ref()).await?;
            deleted += 1;
        }
        Ok(deleted)
    }

    /// Whether an object exists at `key`.
    pub async fn exists(&self, key: &str) -> anyhow::Result<bool> {
        match self.store.head(&Path::from(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(anyhow::Error::new(e).context(format!("looking up {key}"))),
        }
    }
}

/// An object being written in parts; abort it or finish it.
pub struct Upload {
    writer: WriteMultipart,
}

impl Upload {
    /// Adds bytes, waiting while too many parts are in flight (so a fast client cannot make
    /// the server buffer a whole file).
    pub async fn write(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.writer
            .wait_for_capacity(PARTS_IN_FLIGHT)
            .await
            .context("uploading a part")?;
        self.writer.write(bytes);
        Ok(())
    }

    pub async fn finish(self) -> anyhow::Result<()> {
        self.writer.finish().await.context("completing an upload")?;
        Ok(())
    }

    /// Discards everything written.
    pub async fn abort(self) {
        if let Err(e) = self.writer.abort().await {
            tracing::warn!(error = %e, "aborting an upload failed");
        }
    }
}
