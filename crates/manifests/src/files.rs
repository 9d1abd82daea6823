//! Files and directories → documents.

use crate::documents::{Document, parse_documents};
use std::path::{Path, PathBuf};

/// Why manifests could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A file or directory could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file is not valid YAML/JSON.
    #[error("{path} is not valid YAML: {message}")]
    Syntax {
        /// The path.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
}

/// The largest manifest file read (a guard against reading something that is not one).
const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Reads every `.yaml`, `.yml` and `.json` file under `paths` (directories recursed, entries
/// sorted by name) into documents.
pub fn read_paths(paths: &[PathBuf]) -> Result<Vec<Document>, LoadError> {
    let mut files = Vec::new();
    for path in paths {
        collect(path, true, &mut files)?;
    }
    let mut documents = Vec::new();
    for file in files {
        let io = |source| LoadError::Io {
            path: file.clone(),
            source,
        };
        let size = std::fs::metadata(&file).map_err(io)?.len();
        if size > MAX_FILE_BYTES {
            return Err(LoadError::Io {
                path: file.clone(),
                source: std::io::Error::other(format!(
                    "file is {size} bytes, larger than {MAX_FILE_BYTES}"
                )),
            });
        }
        let text = std::fs::read_to_string(&file).map_err(|source| LoadError::Io {
            path: file.clone(),
            source,
        })?;
        let source = file.display().to_string();
        documents.extend(
            parse_documents(&source, &text).map_err(|message| LoadError::Syntax {
                path: file.clone(),
                message,
            })?,
        );
    }
    Ok(documents)
}

fn collect(path: &Path, explicit: bool, files: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    let io = |source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.is_dir() {
        let mut entries = std::fs::read_dir(path)
            .map_err(io)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| LoadError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        entries.sort();
        for entry in entries {
            collect(&entry, false, files)?;
        }
    } else if explicit || is_manifest(path) {
        files.push(path.to_path_buf());
    }
    Ok(())
}

fn is_manifest(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    )
}
