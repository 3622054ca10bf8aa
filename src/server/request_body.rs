//! A request body: in memory, or (large multipart uploads) in a temporary file
//! written as it arrives, so an upload is never held whole in memory.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

/// Multipart bodies larger than this are written to disk as they arrive.
pub const SPOOL_BODY_OVER: u64 = 1024 * 1024;

pub enum RequestBody {
    Memory(Bytes),
    Spooled(SpooledBody),
}

impl RequestBody {
    pub fn len(&self) -> u64 {
        match self {
            RequestBody::Memory(bytes) => bytes.len() as u64,
            RequestBody::Spooled(spooled) => spooled.length,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A temporary file holding a body; deleted when dropped.
pub struct SpooledBody {
    path: PathBuf,
    pub length: u64,
}

impl SpooledBody {
    /// A new, empty file (created exclusively) in the system temporary folder.
    pub fn create() -> std::io::Result<(SpooledBody, std::fs::File)> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let number = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("hyperdjango-body-{}-{number}", std::process::id()));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        Ok((SpooledBody { path, length: 0 }, file))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SpooledBody {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
