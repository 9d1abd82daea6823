//! Exact Kubernetes resource quantities (placeholder, being written).
